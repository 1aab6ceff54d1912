"""Writes respect what a writer may see, as a property over generated cases (hypothesis), through the real sync
(`Ingestor` with the writer's `WriteScope`) into the real store (Qdrant Edge).

Each example stores generated documents (ids from a small pool that also holds ids inside writers' own namespaces,
random access naming users, services and groups), then one generated writer (a user or a service, with groups, a
writer or an admin) writes one document (an id of the pool, a text, an access) in two worlds: world A holds every
generated document, world B the same less those the writer may not see outside its own namespace. Then:

- no document the writer may not see changed in world A: its content hash and access are as before;
- the write's answer (the id it landed on, created / updated / access_updated / unchanged, or refused) is the same
  in both worlds: what the writer may not see cannot be told from what does not exist;
- a document the writer may see is written in place, under its id.

The rules are written out here, apart from the code under test: an admin sees its whole tenant; anyone else the
tenant-wide documents, those listing its name among the users (if it is a user) or the services (if it is a
service) or one of its groups, and those without access when the default is `tenant`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.chunking import Chunker
from ingest.sync import Ingestor
from rag.access.document_access import DocumentAccess, Reader
from rag.access.identity import Principal
from rag.access.namespace import CollectionNamespace
from rag.access.write_scope import WriteScope
from rag.answering.requests import RequestBuilder
from rag.domain import Document, SparseVector
from rag.settings import IngestSettings, Settings
from rag.store.edge import EdgeStore

COLLECTION = "writes"
# principal names (a user's and a service's may be the same); "a/b" holds a slash, "a%2Fb" what encodes one
NAMES = ["n0", "n1", "a/b", "a%2Fb"]
GROUPS = ["g0", "g1", "g2"]
ID_POOL = ["d0", "d1", "hr/d2", "user:n0/d0", "service:n0/d0", "user:a%2Fb/d1", "user:a/b/d1", "user:a%252Fb/d0"]
MIN_CASES = 2_000


class Flat:
    """Every text the same vector: the filter and the ids are under test, not the model."""

    dimension = 2

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return [[1.0, 0.0] for _ in texts]


class OneTerm:
    def encode_documents(self, texts: Sequence[str]) -> list[SparseVector]:
        return [SparseVector([1], [1.0]) for _ in texts]


class Words:
    """A tokenizer of whitespace-separated words (chunking counts tokens with it)."""

    def tokenize(self, text: str) -> list[str]:
        return text.split()


def _access() -> st.SearchStrategy[DocumentAccess | None]:
    names = st.frozensets(st.sampled_from(NAMES), max_size=2)
    restricted = st.builds(
        DocumentAccess, st.just(False), names, st.frozensets(st.sampled_from(GROUPS), max_size=2), names
    )
    return st.one_of(st.none(), st.just(DocumentAccess(tenant_wide=True)), restricted)


@dataclass(frozen=True)
class Stored:
    doc_id: str
    text: str
    access: DocumentAccess | None


@dataclass(frozen=True)
class Writer:
    kind: str  # "user" or "service"
    name: str
    groups: frozenset[str]
    admin: bool

    def principal(self, tenant: str) -> Principal:
        roles = frozenset({"admin" if self.admin else "writer"})
        key_id = "k0" if self.kind == "service" else None  # a principal with a key id is a service
        return Principal(tenant, self.name, self.groups, roles, key_id=key_id)  # type: ignore[arg-type]


STORED = st.lists(
    st.builds(Stored, st.sampled_from(ID_POOL), st.sampled_from(["old one", "old two"]), _access()),
    max_size=6,
    unique_by=lambda s: s.doc_id,
)
WRITERS = st.builds(
    Writer,
    st.sampled_from(["user", "service"]),
    st.sampled_from(NAMES),
    st.frozensets(st.sampled_from(GROUPS), max_size=2),
    st.sampled_from([False, False, False, True]),  # an admin now and then
)
WRITES = st.tuples(st.sampled_from(ID_POOL), st.sampled_from(["old one", "new text"]), _access())


def may_see(writer: Writer, access: DocumentAccess | None, default: str) -> bool:
    """The rules, as docs/access.md states them."""
    if writer.admin:
        return True
    if access is None:
        return default == "tenant"
    listed = access.users if writer.kind == "user" else access.services
    return access.tenant_wide or writer.name in listed or bool(writer.groups & access.groups)


def own_namespace(writer: Writer) -> str:
    return f"{writer.kind}:{writer.name.replace('%', '%25').replace('/', '%2F')}/"


@pytest.fixture(scope="module")
def edge_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EdgeStore]:
    edge = EdgeStore.under(Path(tmp_path_factory.mktemp("writes")))
    edge.optimize = lambda name: None  # type: ignore[method-assign]  # indexing is not under test: a flush a run
    yield edge
    edge.close()


def _ingestor(store: EdgeStore, tenant: str, scope: WriteScope | None, accepted: list[str]) -> Ingestor:
    chunker = Chunker(Words(), chunk_size=50, chunk_overlap=0)
    return Ingestor(
        store, Flat(), OneTerm(), chunker,  # type: ignore[arg-type]
        collection=COLLECTION, tenant=tenant, namespace=CollectionNamespace("shared"), bounds=IngestSettings(),
        scope=scope, on_accepted=lambda d: accepted.append(d.doc_id),
    )  # fmt: skip


def _state(store: EdgeStore, tenant: str) -> dict[str, tuple[set[str], set[DocumentAccess | None]]]:
    return {d.doc_id: (d.hashes, d.access) for d in store.documents(COLLECTION, Reader.whole_tenant(tenant))}


def test_no_write_changes_what_its_writer_may_not_see_nor_tells_it_exists(edge_store: EdgeStore) -> None:
    cases = 0

    @settings(max_examples=MIN_CASES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(stored=STORED, writer=WRITERS, write=WRITES, default=st.sampled_from(["tenant", "admins"]))
    def example(
        stored: list[Stored], writer: Writer, write: tuple[str, str, DocumentAccess | None], default: str
    ) -> None:
        nonlocal cases
        builder = RequestBuilder(Settings(_env_file=None, default_access=default))
        hidden = {s.doc_id for s in stored if not may_see(writer, s.access, default)}
        outside = {d for d in hidden if not d.startswith(own_namespace(writer))}
        worlds = {"A": stored, "B": [s for s in stored if s.doc_id not in outside]}
        answers: dict[str, tuple[str, ...]] = {}
        prefix = uuid.uuid4().hex[:8]
        for world, documents in worlds.items():
            tenant = f"{prefix}-{world}"
            setup: list[str] = []
            _ingestor(edge_store, tenant, None, setup).run(
                Document(s.doc_id, s.text, "", "gen", access=s.access) for s in documents
            )
            before = _state(edge_store, tenant)
            target, text, access = write
            accepted: list[str] = []
            scope = WriteScope(builder.reader(writer.principal(tenant)))
            summary = _ingestor(edge_store, tenant, scope, accepted).run(
                [Document(target, text, "", "w", access=access)]
            )
            after = _state(edge_store, tenant)
            status = [
                name
                for name in ("added", "updated", "access_updated", "unchanged", "conflicted")
                if getattr(summary, f"documents_{name}")
            ]
            answers[world] = (*accepted, *status, str(summary.chunks_upserted))
            for doc_id in hidden & set(before):  # nothing the writer may not see changed
                assert after[doc_id] == before[doc_id], (world, doc_id, writer, write, stored)
            if target in before and target not in hidden:  # what it may see is written in place
                assert accepted == [target], (world, writer, write, stored)
            for doc_id in list(after):
                edge_store.delete_document(COLLECTION, tenant, doc_id)
        assert answers["A"] == answers["B"], (answers, writer, write, stored)
        cases += 1

    edge_store.ensure_collection(COLLECTION, Flat.dimension)
    example()
    print(f"\n{cases} generated writes")
    assert cases >= MIN_CASES
