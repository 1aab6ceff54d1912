"""API keys mapped to tenants (RAG_API_KEYS, RAG_API_KEYS_FILE) and the caller they make of a request.

Keys are compared in constant time and never logged: a caller is known by `key_id`, a short hash of its key.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path

from rag.errors import Unauthorized
from rag.settings import Settings


class ApiKeyConfigError(ValueError):
    """The configured keys cannot be read or parsed; the server refuses to start."""


@dataclass(frozen=True, slots=True)
class Caller:
    tenant: str
    key_id: str | None  # None when the API runs without keys


def key_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def _pairs(text: str, source: str) -> dict[str, str]:
    keys: dict[str, str] = {}
    for n, raw in enumerate(text.replace(",", "\n").splitlines(), start=1):
        entry = raw.split("#", 1)[0].strip()
        if not entry:
            continue
        key, sep, tenant = (part.strip() for part in entry.partition("="))
        if not sep or not key or not tenant:
            raise ApiKeyConfigError(f"{source}: entry {n} is not KEY=TENANT")
        if key in keys and keys[key] != tenant:
            raise ApiKeyConfigError(f"{source}: a key is listed for two tenants (key id {key_id(key)})")
        keys[key] = tenant
    return keys


class ApiKeys:
    def __init__(self, keys: dict[str, str]) -> None:
        self._keys = {k.encode(): t for k, t in keys.items()}

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiKeys | None:
        """The configured keys, or None when there are none (the API then runs without authentication)."""
        keys: dict[str, str] = {}
        if settings.api_keys is not None:
            keys |= _pairs(settings.api_keys.get_secret_value(), "RAG_API_KEYS")
        if settings.api_keys_file is not None:
            keys |= read_key_file(settings.api_keys_file)
        return cls(keys) if keys else None

    def __len__(self) -> int:
        return len(self._keys)

    def tenant_of(self, key: str) -> str | None:
        given = key.encode()
        found = None
        for known, tenant in self._keys.items():  # every key compared, in constant time each
            if hmac.compare_digest(known, given):
                found = tenant
        return found

    def caller(self, authorization: str | None) -> Caller:
        scheme, _, key = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Unauthorized("missing API key: send the header 'Authorization: Bearer KEY'")
        tenant = self.tenant_of(key.strip())
        if tenant is None:
            raise Unauthorized("invalid API key")
        return Caller(tenant=tenant, key_id=key_id(key.strip()))


def read_key_file(path: Path) -> dict[str, str]:
    """A keys file's KEY=TENANT pairs (one a line, `#` comments), as a mounted Kubernetes Secret holds them."""
    try:
        return _pairs(path.read_text(), str(path))
    except OSError as exc:
        raise ApiKeyConfigError(f"cannot read the API keys file {path}: {exc.strerror}") from exc
