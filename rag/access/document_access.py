"""Who may see a document, and whose eyes a read is for.

A document may declare its `DocumentAccess`: tenant-wide, or the users, services (API keys) and groups of its tenant
that may see it. A
document that declares none is seen as the deployment's default says (`RAG_DEFAULT_ACCESS`): tenant-wide (as before
documents had access) or by the tenant's admins only.

Every read of the store is for a `Reader`: a tenant, and within it either everything (an admin, the operator's CLI,
ingestion) or what a subject and its groups may see. rag/store/filters.py turns a reader into the one Qdrant filter
every engine applies on every path, so what a reader is not allowed never leaves the store.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from rag.access.identity import PrincipalKind

# How a chunk's payload says who may see it: one keyword list, `access`, of tokens. `tenant`: everyone in the tenant;
# `user:NAME`, `service:NAME` and `group:NAME`: that user (an OIDC subject), that service (an API key's subject), that
# group; `admins`: no one else (the list is never empty: an empty list
# reads as a missing field); `default`: the document declared no access (RAG_DEFAULT_ACCESS decides). Points written
# before access existed hold no `access` field and read as `default`. One indexed field matched by one condition is
# what keeps the access filter cheap (python -m benchmarks.access).
ACCESS_FIELD = "access"
TENANT_WIDE, DEFAULT, ADMINS_ONLY = "tenant", "default", "admins"
USER, SERVICE, GROUP = "user:", "service:", "group:"
_SUBJECT_PREFIX: dict[PrincipalKind, str] = {"user": USER, "service": SERVICE}

MAX_PRINCIPAL_NAME = 256


def split_names(text: str, separators: str = ",") -> list[str]:
    """The names in a list written as text (`hr, legal`), stripped, empty ones dropped."""
    for separator in separators[1:]:
        text = text.replace(separator, separators[0])
    return [n.strip() for n in text.split(separators[0]) if n.strip()]


def _names(values: Iterable[str], what: str) -> frozenset[str]:
    names = frozenset(v.strip() for v in values)
    for name in names:
        if not name or len(name) > MAX_PRINCIPAL_NAME:
            raise ValueError(f"{what} names are 1 to {MAX_PRINCIPAL_NAME} characters")
    return names


@dataclass(frozen=True, slots=True)
class DocumentAccess:
    """Who may see a document besides the tenant's admins: everyone in the tenant, or the listed users (OIDC subjects),
    services (API keys' subjects) and groups (no one else when all are empty)."""

    tenant_wide: bool = False
    users: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    services: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls,
        *,
        users: Iterable[str] = (),
        groups: Iterable[str] = (),
        services: Iterable[str] = (),
        tenant_wide: bool = False,
    ) -> DocumentAccess:
        """Checked names (stripped, non-empty, at most MAX_PRINCIPAL_NAME characters); ValueError otherwise."""
        return cls(tenant_wide, _names(users, "user"), _names(groups, "group"), _names(services, "service"))

    def tokens(self) -> list[str]:
        """The `access` payload tokens of a document with this access."""
        wide = [TENANT_WIDE] if self.tenant_wide else []
        named = sorted(USER + u for u in self.users) + sorted(SERVICE + s for s in self.services)
        tokens = wide + named + sorted(GROUP + g for g in self.groups)
        return tokens or [ADMINS_ONLY]


def access_payload(access: DocumentAccess | None) -> dict[str, object]:
    """The payload field of a chunk of a document with this access (None: it declared none). Always written, so that
    changing a document's access is one payload update of its chunks."""
    return {ACCESS_FIELD: [DEFAULT] if access is None else access.tokens()}


def access_of_payload(payload: dict[str, object]) -> DocumentAccess | None:
    """The access a chunk's payload gives (None: declared none, or written before access existed)."""
    tokens = payload.get(ACCESS_FIELD)
    if not isinstance(tokens, list) or not tokens or DEFAULT in tokens:
        return None
    names = [str(t) for t in tokens]
    return DocumentAccess(
        TENANT_WIDE in names,
        frozenset(t.removeprefix(USER) for t in names if t.startswith(USER)),
        frozenset(t.removeprefix(GROUP) for t in names if t.startswith(GROUP)),
        frozenset(t.removeprefix(SERVICE) for t in names if t.startswith(SERVICE)),
    )


@dataclass(frozen=True, slots=True)
class Reader:
    """Whose eyes a read of the store is for. `everything`: all of the tenant's documents (admins, the operator's
    CLI, ingestion). Otherwise the documents whose access is tenant-wide, lists `subject` (among the users or the
    services, as its `kind` says) or one of `groups`, and, where `default_visible`, those that declared no access."""

    tenant: str
    everything: bool = True
    subject: str | None = None
    groups: frozenset[str] = frozenset()
    default_visible: bool = True
    kind: PrincipalKind = "user"

    @classmethod
    def whole_tenant(cls, tenant: str) -> Reader:
        return cls(tenant)

    def tokens(self) -> list[str]:
        """What a document's `access` must hold one of for this reader to see it (when it does not see everything)."""
        own = [_SUBJECT_PREFIX[self.kind] + self.subject] if self.subject is not None else []
        default = [DEFAULT] if self.default_visible else []
        return [TENANT_WIDE, *default, *own, *sorted(GROUP + g for g in self.groups)]

    def sees(self, access: Collection[DocumentAccess | None]) -> bool:
        """Whether the reader may see a stored document whose chunks hold these accesses (any one of them, as the
        store's filter matches chunk by chunk: rag/store/filters.py)."""
        if self.everything:
            return True
        mine = set(self.tokens())
        return any(not mine.isdisjoint([DEFAULT] if a is None else a.tokens()) for a in access)
