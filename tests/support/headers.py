"""Request headers the tests send: a bearer credential (an API key or an OIDC token), and one header set per
named caller."""

from __future__ import annotations

from collections.abc import Mapping


def bearer(credential: str) -> dict[str, str]:
    """The Authorization header that presents `credential` (an API key or a token)."""
    return {"Authorization": f"Bearer {credential}"}


def bearers(keys: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Each caller's Authorization header, by the caller's name in `keys` (name -> key)."""
    return {who: bearer(key) for who, key in keys.items()}
