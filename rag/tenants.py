"""What a tenant may be called: one rule for API keys, the OIDC tenant claim and RAG_TENANT (docs/access.md).

Letters, digits, `.`, `_` and `-`, 1 to 64 of them: a name that appears as itself in store collection names
(`<collection>@<tenant>`, rag/access/namespace.py), in Redis keys and in logs, and never holds the `=` that ends an
API key in a keys file, nor a `/`, `:`, space or anything else a key or a path could confuse. Imports nothing of the
platform, so the settings, the key parser and the token verifier can all use it.
"""

from __future__ import annotations

import re

TENANT_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
TENANT_RULE = "letters, digits, '.', '_' and '-', 1 to 64 characters"


def is_tenant_name(name: str) -> bool:
    """Whether `name` is a tenant name (the whole of it: `fullmatch`, so a final newline does not pass)."""
    return TENANT_NAME.fullmatch(name) is not None
