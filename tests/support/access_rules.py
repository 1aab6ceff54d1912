"""Per-document access written out apart from the code under test (docs/access.md): the rule that says who may
read a document, and hypothesis strategies of documents and principals over two tenants whose user and group names
recur, for the property tests of the store (tests/test_access_properties.py) and of the API
(tests/test_access_api_properties.py)."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

from rag.access.document_access import DocumentAccess

USERS = [f"u{i}" for i in range(4)]
GROUPS = [f"g{i}" for i in range(5)]


def access_strategy() -> st.SearchStrategy[DocumentAccess | None]:
    """No access (the default applies), tenant-wide, or lists of users and groups."""
    names = st.frozensets(st.sampled_from(USERS), max_size=2), st.frozensets(st.sampled_from(GROUPS), max_size=3)
    restricted = st.builds(DocumentAccess, st.just(False), *names)
    return st.one_of(st.none(), st.just(DocumentAccess(tenant_wide=True)), restricted)


@dataclass(frozen=True)
class Doc:
    """A generated document: which of the two tenants holds it, and its access."""

    tenant: int  # 0 or 1: the example's two tenants
    access: DocumentAccess | None


DOCS = st.lists(st.builds(Doc, st.integers(0, 1), access_strategy()), min_size=1, max_size=10)
PRINCIPALS = st.tuples(
    st.integers(0, 1),
    st.sampled_from(USERS),
    st.frozensets(st.sampled_from(GROUPS), max_size=3),
    st.sampled_from(["reader", "writer", "admin"]),
)


def allowed(tenant: str, subject: str, groups: frozenset[str], admin: bool, default: str, doc: Doc, of: str) -> bool:
    """The rules, as the issue states them."""
    if of != tenant:
        return False
    if admin:
        return True
    if doc.access is None:
        return default == "tenant"
    return doc.access.tenant_wide or subject in doc.access.users or bool(groups & doc.access.groups)
