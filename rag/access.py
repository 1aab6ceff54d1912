"""Who may see a document, and whose eyes a read is for.

A document may declare its `DocumentAccess`: tenant-wide, or the users and groups of its tenant that may see it. A
document that declares none is seen as the deployment's default says (`RAG_DEFAULT_ACCESS`): tenant-wide (as before
documents had access) or by the tenant's admins only.

Every read of the store is for a `Reader`: a tenant, and within it either everything (an admin, the operator's CLI,
ingestion) or what a subject and its groups may see. rag/store/filters.py turns a reader into the one Qdrant filter
every engine applies on every path, so what a reader is not allowed never leaves the store.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

# What a document without its own access is seen as: by everyone in its tenant, or by the tenant's admins only.
DefaultAccess = Literal["tenant", "admins"]

# How a chunk's payload says who may see it (`access_mode`): tenant-wide, only the listed users and groups, or as the
# deployment's default says (a document that declared nothing; points written before access existed hold no field).
AccessMode = Literal["tenant", "restricted", "default"]

MAX_PRINCIPAL_NAME = 256


def _names(values: Iterable[str], what: str) -> frozenset[str]:
    names = frozenset(v.strip() for v in values)
    for name in names:
        if not name or len(name) > MAX_PRINCIPAL_NAME:
            raise ValueError(f"{what} names are 1 to {MAX_PRINCIPAL_NAME} characters")
    return names


@dataclass(frozen=True, slots=True)
class DocumentAccess:
    """Who may see a document besides the tenant's admins: everyone in the tenant, or the listed users and groups
    (no one else when both are empty)."""

    tenant_wide: bool = False
    users: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()

    @classmethod
    def of(cls, *, users: Iterable[str] = (), groups: Iterable[str] = (), tenant_wide: bool = False) -> DocumentAccess:
        """Checked names (stripped, non-empty, at most MAX_PRINCIPAL_NAME characters); ValueError otherwise."""
        return cls(tenant_wide, _names(users, "user"), _names(groups, "group"))

    @property
    def mode(self) -> AccessMode:
        return "tenant" if self.tenant_wide else "restricted"


def access_payload(access: DocumentAccess | None) -> dict[str, object]:
    """The payload fields of a chunk of a document with this access (None: it declared none). Every field is always
    written, so that changing a document's access is one payload update of its chunks."""
    if access is None:
        return {"access_mode": "default", "access_users": [], "access_groups": []}
    return {"access_mode": access.mode, "access_users": sorted(access.users), "access_groups": sorted(access.groups)}


def access_of_payload(payload: dict[str, object]) -> DocumentAccess | None:
    """The access a chunk's payload gives (None: declared none, or written before access existed)."""
    mode = payload.get("access_mode")
    if mode not in ("tenant", "restricted"):
        return None
    users, groups = payload.get("access_users"), payload.get("access_groups")
    return DocumentAccess(
        mode == "tenant",
        frozenset(map(str, users if isinstance(users, list) else [])),
        frozenset(map(str, groups if isinstance(groups, list) else [])),
    )


@dataclass(frozen=True, slots=True)
class Reader:
    """Whose eyes a read of the store is for. `everything`: all of the tenant's documents (admins, the operator's
    CLI, ingestion). Otherwise the documents whose access is tenant-wide, lists `subject` or one of `groups`, and,
    where `default_visible`, those that declared no access."""

    tenant: str
    everything: bool = True
    subject: str | None = None
    groups: frozenset[str] = frozenset()
    default_visible: bool = True

    @classmethod
    def whole_tenant(cls, tenant: str) -> Reader:
        return cls(tenant)
