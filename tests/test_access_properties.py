"""Per-document access as a property over many generated cases (hypothesis), through the real store (Qdrant Edge).

Each example generates two tenants' documents with random access (none, tenant-wide, or lists of users and groups
whose names recur across tenants), a default for documents without access, and principals (tenant, user, groups,
role). For every principal, every read path returns exactly the documents the rules below allow, never one more:
retrieval in each mode (with the abstention check on), the LangChain retriever, the document listing, and the check
DELETE makes before it deletes. Then one document's access changes in place and the very next reads follow it.

The rules are written out apart from the code under test (tests/support/access_rules.py): an admin sees its whole
tenant; anyone else sees the tenant-wide documents, those listing its user or one of its groups, and those without
access when the default is `tenant`; nobody sees another tenant's documents.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.access.document_access import DocumentAccess
from rag.access.identity import Principal
from rag.access.namespace import CollectionNamespace
from rag.answering.langchain_retriever import RagRetriever
from rag.answering.requests import RequestBuilder
from rag.answering.retrieval import Retriever
from rag.domain import Chunk, SparseVector
from rag.errors import NotFound
from rag.settings import Settings
from rag.store.edge import EdgeStore
from rag.store.fusion import Fusion
from tests.support.access_rules import DOCS, PRINCIPALS, Doc, access_strategy, allowed

COLLECTION = "acl"
MIN_CHECKS = 10_000  # principal x read path checks over the whole run (the issue asks at least this many in CI)


class FlatEmbedder:
    """Every text the same unit vector: every chunk is as relevant as any other, so a query whose `top_k` covers
    the tenant returns exactly what the filter lets through (the filter is what is tested, not the model)."""

    dimension = 2
    name = "flat"
    tokenizer = None

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return [[1.0, 0.0] for _ in texts]

    def embed_query(self, text: str) -> list[float]:
        return [1.0, 0.0]


class OneTerm:
    """Every text holds term 1 once: a sparse query for it matches every chunk."""

    def encode_documents(self, texts: Sequence[str]) -> list[SparseVector]:
        return [SparseVector([1], [1.0]) for _ in texts]

    def encode_query(self, text: str) -> SparseVector:
        return SparseVector([1], [1.0])


@pytest.fixture(scope="module")
def edge_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EdgeStore]:
    """One Edge store for every example; each example writes its own tenants and removes them after."""
    edge = EdgeStore.under(Path(tmp_path_factory.mktemp("access")))
    edge.ensure_collection(COLLECTION, FlatEmbedder.dimension)
    yield edge
    edge.close()


def _reads(
    retriever: Retriever, builder: RequestBuilder, principal: Principal, tenant_docs: int
) -> dict[str, set[str]]:
    """The doc ids each read path gives the principal."""
    store, found = retriever.store, {}
    # a collection holding nothing the reader may see reads as one that does not exist (rag/store/visibility.py)
    for mode in ("dense", "sparse", "hybrid"):
        request = builder.retrieval("q", principal=principal, collection=COLLECTION, top_k=tenant_docs, mode=mode)
        try:
            found[f"retrieve {mode}"] = {h.chunk.doc_id for h in retriever.retrieve(request)}
        except NotFound:
            found[f"retrieve {mode}"] = set()
    reader = builder.reader(principal)
    langchain = RagRetriever(
        retriever=retriever, requests=builder, principal=principal, collection=COLLECTION, top_k=tenant_docs
    )
    try:
        found["langchain"] = {d.metadata["doc_id"] for d in langchain.invoke("q")}
    except NotFound:
        found["langchain"] = set()
    found["list"] = {d.doc_id for d in store.documents(COLLECTION, reader)}
    return found


def test_every_principal_reaches_exactly_the_documents_its_access_allows_on_every_read_path(
    edge_store: EdgeStore,
) -> None:
    fused, names = Fusion("dbsf"), CollectionNamespace("shared")
    retriever = Retriever(edge_store, FlatEmbedder(), OneTerm(), prefetch_k=50, fusion=fused, namespace=names)  # type: ignore[arg-type]
    checks = 0

    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        docs=DOCS,
        principals=st.lists(PRINCIPALS, min_size=4, max_size=20),
        default=st.sampled_from(["tenant", "admins"]),
        change=st.tuples(st.integers(0, 9), access_strategy()),
    )
    def example(
        docs: list[Doc],
        principals: list[tuple[int, str, frozenset[str], str]],
        default: str,
        change: tuple[int, DocumentAccess | None],
    ) -> None:
        nonlocal checks
        prefix = uuid.uuid4().hex[:8]
        tenants = [f"{prefix}-t0", f"{prefix}-t1"]
        builder = RequestBuilder(Settings(_env_file=None, default_access=default))
        chunks = [
            Chunk(tenants[d.tenant], f"d{i}", "h", 0, f"text {i}", "", "", access=d.access) for i, d in enumerate(docs)
        ]
        texts = [c.text for c in chunks]
        edge_store.upsert(COLLECTION, chunks, FlatEmbedder().embed_documents(texts), OneTerm().encode_documents(texts))
        try:
            for round_ in range(2):  # before and after one document's access changed
                for t, user, groups, role in principals:
                    principal = Principal(tenants[t], user, groups, frozenset({role}))  # type: ignore[arg-type]
                    want = {
                        f"d{i}"
                        for i, d in enumerate(docs)
                        if allowed(tenants[t], user, groups, role == "admin", default, d, tenants[d.tenant])
                    }
                    in_tenant = sum(1 for d in docs if d.tenant == t)
                    for path, got in _reads(retriever, builder, principal, max(in_tenant, 1)).items():
                        assert got == want, (path, round_, principal, default, docs)
                        checks += 1
                    reader = builder.reader(principal)
                    for i, d in enumerate(docs):  # what DELETE asks before it deletes (0 chunks: 404)
                        if d.tenant == t:
                            assert (edge_store.count(COLLECTION, reader, doc_id=f"d{i}") > 0) == (f"d{i}" in want)
                    checks += 1
                index, access = change
                if round_ == 0 and index < len(docs):
                    doc = docs[index]
                    edge_store.set_access(COLLECTION, tenants[doc.tenant], f"d{index}", access)
                    docs = [*docs[:index], Doc(doc.tenant, access), *docs[index + 1 :]]
        finally:
            for i, d in enumerate(docs):
                edge_store.delete_document(COLLECTION, tenants[d.tenant], f"d{i}")

    example()
    print(f"\n{checks} principal x read path checks")
    assert checks >= MIN_CHECKS
