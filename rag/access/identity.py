"""Who is calling: one typed principal per request, whatever proved it (an API key, an OIDC token, or nothing in
development), resolved once by the API (serving/auth.py) and used by every endpoint."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, get_args

# reader: chat and retrieve; writer: also store and delete documents; admin: also every document of its tenant,
# whatever its access, and its tenant's audit and usage. Each role includes those before it.
Role = Literal["reader", "writer", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
KEY_DEFAULT_ROLES: frozenset[Role] = frozenset({"reader", "writer"})  # an API key's, when its line names none

# Two kinds of principal whose subjects never meet: an API key is a `service`, anything else (an OIDC token, the
# unauthenticated developer) a `user`. A document's access lists name each kind apart (rag/access/document_access.py),
# feedback is matched on kind and subject, and a writer's own documents live under its kind and subject
# (rag/access/write_scope.py).
PrincipalKind = Literal["user", "service"]


def roles_of(names: Iterable[str], source: str) -> frozenset[Role]:
    """Role names checked (ValueError naming `source` for an unknown one)."""
    roles: set[Role] = set()
    for name in names:
        role = name.strip().lower()
        if role not in ROLES:
            raise ValueError(f"{source}: unknown role {name!r} (roles: {', '.join(ROLES)})")
        roles.add(role)
    return frozenset(roles)


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of one request. `subject`: the user (OIDC `sub`) or service (an API key's) it is; `key_id`: the
    short hash of its API key, for logs. A principal with a key id is a service, any other a user."""

    tenant: str
    subject: str
    groups: frozenset[str] = frozenset()
    roles: frozenset[Role] = KEY_DEFAULT_ROLES
    key_id: str | None = None

    @property
    def kind(self) -> PrincipalKind:
        return "service" if self.key_id is not None else "user"

    def is_subject(self, subject: str, key_id: str | None) -> bool:
        """Whether a record's (subject, key id) names this principal: the same subject of the same kind."""
        return subject == self.subject and (key_id is None) == (self.key_id is None)

    def has(self, role: Role) -> bool:
        """Whether one of its roles is `role` or one that includes it."""
        return any(ROLES.index(r) >= ROLES.index(role) for r in self.roles)
