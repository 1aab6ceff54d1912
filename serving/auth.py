"""API keys (RAG_API_KEYS, RAG_API_KEYS_FILE): each a service principal of a tenant, with roles and groups.

A keys entry is `KEY=TENANT`, optionally followed by attributes separated by spaces:

    KEY=TENANT roles=reader,writer groups=hr,legal subject=payroll-bot

The entry is split at its last `=`: a tenant name (rag/tenants.py) never holds one, so a key may (base64 padding:
`c2VjcmV0a2V5IQ===acme` is key `c2VjcmV0a2V5IQ==` of tenant `acme`). A tenant that is not a tenant name stops the
server, as any other unreadable entry does.

`roles` defaults to `reader,writer` (what every key could do before roles existed), `groups` to none and `subject`
to `key:<key id>`. Entries are one a line (`#` starts a comment); a line of bare `KEY=TENANT` entries may also
separate them with commas, as RAG_API_KEYS always has. Keys are compared in constant time and never logged: a
caller is known by `key_id`, a short hash of its key.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path

from rag.access.document_access import split_names
from rag.access.identity import KEY_DEFAULT_ROLES, Principal, Role, roles_of
from rag.settings import AccessSettings
from rag.tenants import TENANT_RULE, is_tenant_name


class ApiKeyConfigError(ValueError):
    """The configured keys cannot be read or parsed; the server refuses to start."""


@dataclass(frozen=True, slots=True)
class KeyGrant:
    """What one API key is: a tenant's service, with roles, groups and a subject name (None: `key:<key id>`)."""

    tenant: str
    roles: frozenset[Role] = KEY_DEFAULT_ROLES
    groups: frozenset[str] = frozenset()
    subject: str | None = None


def key_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def _grant(tenant: str, attributes: list[str], where: str) -> KeyGrant:
    fields: dict[str, str] = {}
    for attribute in attributes:
        name, sep, value = attribute.partition("=")
        if not sep or name not in ("roles", "groups", "subject") or name in fields or not value:
            raise ApiKeyConfigError(f"{where}: expected roles=..., groups=... or subject=... once each, not {name!r}")
        fields[name] = value
    try:
        roles = roles_of(fields["roles"].split(","), where) if "roles" in fields else KEY_DEFAULT_ROLES
    except ValueError as exc:
        raise ApiKeyConfigError(str(exc)) from None
    groups = frozenset(split_names(fields.get("groups", "")))
    return KeyGrant(tenant, roles, groups, fields.get("subject"))


def _entries(text: str, source: str) -> dict[str, KeyGrant]:
    keys: dict[str, KeyGrant] = {}
    for n, raw in enumerate(text.splitlines(), start=1):
        tokens = raw.split("#", 1)[0].split()
        if not tokens:
            continue
        where = f"{source}: line {n}"
        lines = [(e, []) for e in tokens[0].split(",") if e] if len(tokens) == 1 else [(tokens[0], tokens[1:])]
        for entry, attributes in lines:
            key, sep, tenant = (part.strip() for part in entry.rpartition("="))  # a key may hold `=`, a tenant not
            if not sep or not key or not tenant:
                raise ApiKeyConfigError(f"{where}: an entry is not KEY=TENANT")
            if not is_tenant_name(tenant):  # not quoted: a line written the wrong way round would show its key
                raise ApiKeyConfigError(f"{where}: the tenant of an entry is not a tenant name ({TENANT_RULE})")
            grant = _grant(tenant, attributes, where)
            if key in keys and keys[key] != grant:
                raise ApiKeyConfigError(f"{where}: a key is listed twice, differently (key id {key_id(key)})")
            keys[key] = grant
    return keys


class ApiKeys:
    def __init__(self, keys: dict[str, KeyGrant]) -> None:
        self._keys = {k.encode(): g for k, g in keys.items()}

    @classmethod
    def from_settings(cls, settings: AccessSettings) -> ApiKeys | None:
        """The configured keys, or None when there are none."""
        keys: dict[str, KeyGrant] = {}
        if settings.api_keys is not None:
            keys |= _entries(settings.api_keys.get_secret_value(), "RAG_API_KEYS")
        if settings.api_keys_file is not None:
            keys |= read_key_file(settings.api_keys_file)
        return cls(keys) if keys else None

    def __len__(self) -> int:
        return len(self._keys)

    def grant_of(self, key: str) -> KeyGrant | None:
        given = key.encode()
        found = None
        for known, grant in self._keys.items():  # every key compared, in constant time each
            if hmac.compare_digest(known, given):
                found = grant
        return found

    def find(self, key: str) -> Principal | None:
        """The service principal of an API key, or None for a key that is not configured."""
        grant = self.grant_of(key)
        if grant is None:
            return None
        kid = key_id(key)
        subject = grant.subject or f"key:{kid}"
        return Principal(grant.tenant, subject, grant.groups, grant.roles, key_id=kid)


def read_key_file(path: Path) -> dict[str, KeyGrant]:
    """A keys file's entries, as a mounted Kubernetes Secret holds them."""
    try:
        return _entries(path.read_text(), str(path))
    except OSError as exc:
        raise ApiKeyConfigError(f"cannot read the API keys file {path}: {exc.strerror}") from exc
