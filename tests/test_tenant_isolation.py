"""Tenant isolation in the store (rag/access/namespace.py), on every engine, with the real embedder and BM25.

The probe an attacker would run: the sparse score of a term in my own document, before and after another tenant
stores many documents holding that term. Under strict isolation it must not move (IDF counts only my documents);
under shared isolation it does, which is why strict is the default."""

from __future__ import annotations

import pytest

from ingest.chunking import Chunker
from ingest.sync import Ingestor
from rag.access.namespace import CollectionNamespace, TenantIsolation, tenant_token
from rag.answering.requests import RequestBuilder
from rag.answering.retrieval import Retriever
from rag.domain import Document
from rag.embedding.dense import SentenceTransformerEmbedder
from rag.embedding.sparse import Bm25Encoder
from rag.errors import InvalidInput, NotFound
from rag.settings import IngestSettings, Settings
from rag.store.base import VectorStore
from rag.store.fusion import Fusion

ALPHA = [
    Document("a1", "The acquisition of the harbour company closed in May.", "Deal", "a1"),
    Document("a2", "Quarterly revenue rose by four percent.", "Revenue", "a2"),
    Document("a3", "The new office opens in the autumn.", "Office", "a3"),
]
BETA = [Document(f"b{i}", f"Beta note {i}: the acquisition pipeline holds target {i}.", "", f"b{i}") for i in range(30)]


def _ingest(
    store: VectorStore,
    embedder: SentenceTransformerEmbedder,
    sparse: Bm25Encoder,
    names: CollectionNamespace,
    tenant: str,
    docs: list[Document],
    collection: str = "c",
) -> None:
    chunker = Chunker(embedder.tokenizer, chunk_size=64, chunk_overlap=0)
    Ingestor(
        store, embedder, sparse, chunker, collection=collection, tenant=tenant, namespace=names, bounds=IngestSettings()
    ).run(docs)


def _probe(retriever: Retriever, tenant: str = "alpha", collection: str = "c") -> float:
    build = RequestBuilder(Settings(_env_file=None))
    request = build.retrieval("acquisition", tenant=tenant, collection=collection, top_k=1, mode="sparse")
    [hit] = retriever.retrieve(request)
    assert hit.chunk.doc_id == "a1"
    return hit.score


@pytest.mark.parametrize("isolation", ["strict", "shared"])
def test_another_tenants_documents_move_my_sparse_scores_only_when_shared(
    isolation: TenantIsolation, vector_store: VectorStore, embedder: SentenceTransformerEmbedder, sparse: Bm25Encoder
) -> None:
    names = CollectionNamespace(isolation)
    retriever = Retriever(vector_store, embedder, sparse, prefetch_k=10, fusion=Fusion("dbsf"), namespace=names)
    _ingest(vector_store, embedder, sparse, names, "alpha", ALPHA)
    before = _probe(retriever)
    _ingest(vector_store, embedder, sparse, names, "beta", BETA)
    after = _probe(retriever)
    if isolation == "strict":
        assert after == pytest.approx(before, rel=1e-6)
        assert sorted(vector_store.list_collections()) == ["c@alpha", "c@beta"]
    else:
        assert after < before * 0.5  # the leak strict isolation closes: beta's 30 documents lowered alpha's IDF
        assert vector_store.list_collections() == ["c"]


def test_another_tenants_collection_reads_as_not_found(
    vector_store: VectorStore, embedder: SentenceTransformerEmbedder, sparse: Bm25Encoder
) -> None:
    names = CollectionNamespace("strict")
    retriever = Retriever(vector_store, embedder, sparse, prefetch_k=10, fusion=Fusion("dbsf"), namespace=names)
    _ingest(vector_store, embedder, sparse, names, "beta", BETA, collection="beta-private")

    def error(collection: str) -> str:
        with pytest.raises(NotFound) as raised:
            _probe(retriever, "alpha", collection)
        assert raised.value.param == "collection"
        return raised.value.message.replace(collection, "X")

    assert error("beta-private") == error("never-created")
    with pytest.raises(InvalidInput):  # nobody names a store collection of another tenant directly
        _probe(retriever, "alpha", "beta-private@beta")


def test_the_home_tenant_keeps_plain_names_and_odd_tenants_get_portable_ones() -> None:
    names = CollectionNamespace("strict", home_tenant="default")
    assert names.store_name("docs", "default") == "docs"
    assert names.store_name("docs", "acme-eu.1") == "docs@acme-eu.1"
    odd = names.store_name("docs", "Ünïcode tenant/../x")
    assert odd.startswith("docs@~") and odd == f"docs@{tenant_token('Ünïcode tenant/../x')}" and "/" not in odd
    assert names.store_name("docs", "Ünïcode tenant/../x") != names.store_name("docs", "Ünïcode tenant/../y")
    assert CollectionNamespace("shared").store_name("docs", "acme") == "docs"
    for bad in ("docs@acme", "docs\n", "../docs", ""):
        with pytest.raises(InvalidInput):
            names.store_name(bad, "acme")
