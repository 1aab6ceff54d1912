"""The stores with real embeddings: the shared suite (tests/support/store_suite.py) on every engine, what one engine
alone does, and what engines do together (same ranking, copying between them)."""

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from rag.access.document_access import Reader
from rag.answering.retrieval import Retriever
from rag.domain import Chunk, SparseVector
from rag.embedding.dense import SentenceTransformerEmbedder
from rag.embedding.sparse import Bm25Encoder
from rag.store.base import VectorStore, document_hashes
from rag.store.edge import EdgeStore
from rag.store.engine import StoreEngine
from rag.store.qdrant import QdrantStore
from rag.store.transfer import copy_collection
from tests.support.store_suite import StoreFactory, StoreSuite, fill, ranked

SERVER = os.environ.get("RAG_TEST_QDRANT_URL")  # a Qdrant server the suite may fill and empty


def _factory(open_store: Callable[..., StoreEngine], *, drop_created: bool = False) -> Iterator[StoreFactory]:
    """Stores opened on one place, all closed after the test; with `drop_created` (a server), the collections the
    test created are dropped too."""
    opened: list[StoreEngine] = []

    def factory(**options: object) -> StoreEngine:
        opened.append(open_store(**options))
        return opened[-1]

    before = _collections(open_store) if drop_created else set()
    yield factory
    for store in opened:
        store.close()
    if drop_created:
        cleaner = open_store()
        try:
            for name in set(cleaner.list_collections()) - before:
                cleaner.drop_collection(name)
        finally:
            cleaner.close()


def _collections(open_store: Callable[..., StoreEngine]) -> set[str]:
    store = open_store()
    try:
        return set(store.list_collections())
    finally:
        store.close()


class TestEdge(StoreSuite):
    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> Iterator[StoreFactory]:
        yield from _factory(lambda **options: EdgeStore.under(tmp_path, **options))

    def test_edge_builds_its_hnsw_index_on_optimize_and_it_finds_what_exact_search_finds(
        self, engine: EdgeStore
    ) -> None:
        """Edge has no background optimizer: without `optimize` nothing is indexed. 8,000 points are past Qdrant's
        indexing threshold; each of 50 stored vectors, queried, must come back first through the index as exactly."""
        rng = np.random.default_rng(3)
        vectors = rng.normal(size=(8000, 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        chunks = [Chunk("t", f"d{i}", "h", 0, f"text {i}", "", "s") for i in range(len(vectors))]
        no_terms = [SparseVector([], [])] * len(chunks)
        engine.ensure_collection("big", 384)
        for i in range(0, len(chunks), 1000):
            engine.upsert("big", chunks[i : i + 1000], vectors[i : i + 1000].tolist(), no_terms[i : i + 1000])
        assert engine.index_info("big")["indexed_vectors"] == 0
        engine.optimize("big")
        assert engine.index_info("big")["indexed_vectors"] >= len(chunks)
        for i in range(0, len(chunks), 160):
            found = [
                engine.query(
                    "big",
                    reader=Reader.whole_tenant("t"),
                    mode="dense",
                    dense=vectors[i].tolist(),
                    sparse=None,
                    limit=1,
                    prefetch_limit=1,
                    exact=exact,
                )[0].chunk.doc_id
                for exact in (False, True)
            ]
            assert found == [f"d{i}", f"d{i}"]


class TestQdrantLocal(StoreSuite):
    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> Iterator[StoreFactory]:
        yield from _factory(lambda **options: QdrantStore(path=tmp_path / "local", **options))

    def test_local_mode_has_no_indexes_and_searches_exactly(
        self, engine: StoreEngine, embedder: SentenceTransformerEmbedder, sparse: Bm25Encoder
    ) -> None:
        assert not engine.indexes_payload
        fill(engine, embedder, sparse, "t1")
        engine.optimize("c")
        assert engine.index_info("c")["indexed_vectors"] == 0 and engine.index_info("c")["payload_indexes"] == []


@pytest.mark.skipif(SERVER is None, reason="RAG_TEST_QDRANT_URL names no Qdrant server")
class TestQdrantServer(StoreSuite):
    @pytest.fixture
    def store_factory(self) -> Iterator[StoreFactory]:
        yield from _factory(lambda **options: QdrantStore(url=SERVER, **options), drop_created=True)


def test_langchain_retriever_adapter(
    vector_store: VectorStore, embedder: SentenceTransformerEmbedder, sparse: Bm25Encoder
) -> None:
    from rag.access.namespace import CollectionNamespace
    from rag.answering.langchain_retriever import RagRetriever
    from rag.answering.requests import RequestBuilder
    from rag.settings import Settings
    from rag.store.fusion import Fusion

    fill(vector_store, embedder, sparse, "t1")
    lc = RagRetriever(
        retriever=Retriever(
            vector_store,
            embedder,
            sparse,
            prefetch_k=10,
            fusion=Fusion("dbsf"),
            namespace=CollectionNamespace("shared"),
        ),
        requests=RequestBuilder(Settings(_env_file=None)),
        tenant="t1",
        collection="c",
        top_k=2,
    )
    docs = lc.invoke("helm chart install")
    assert len(docs) == 2
    assert docs[0].metadata["doc_id"] == "helm.md" and "helm install" in docs[0].page_content


def test_engines_agree_on_ids_scores_and_order(
    tmp_path: Path, embedder: SentenceTransformerEmbedder, sparse: Bm25Encoder
) -> None:
    """The same ingest gives the same points anywhere: Edge and qdrant-client's local mode rank identically."""
    engines: list[VectorStore] = [EdgeStore.under(tmp_path), QdrantStore(path=tmp_path / "local")]
    try:
        results = []
        for engine in engines:
            fill(engine, embedder, sparse, "t1")
            results.append(ranked(engine, embedder, sparse))
        assert results[0] == results[1]
        assert {r.split()[0] for r in results[0]} == {"dense", "sparse", "hybrid"}
    finally:
        for engine in engines:
            engine.close()


def _other(store: VectorStore, tmp_path: Path) -> VectorStore:
    return QdrantStore(path=tmp_path / "other") if isinstance(store, EdgeStore) else EdgeStore(tmp_path / "other")


def test_copy_collection_moves_every_point_to_the_other_engine(
    vector_store: VectorStore, tmp_path: Path, embedder: SentenceTransformerEmbedder, sparse: Bm25Encoder
) -> None:
    """A collection streamed to another engine keeps ids, payload and vectors: the target ranks as the source."""
    for tenant in ("t1", "t2"):
        fill(vector_store, embedder, sparse, tenant)
    target = _other(vector_store, tmp_path)
    try:
        assert copy_collection(vector_store, target, "c", batch=2) == 6
        assert copy_collection(vector_store, target, "c", batch=2) == 6  # a rerun rewrites the same points
        assert target.count("c") == 6 and target.count("c", Reader.whole_tenant("t2")) == 3
        assert document_hashes(target, "c", "t1") == document_hashes(vector_store, "c", "t1")
        assert ranked(target, embedder, sparse) == ranked(vector_store, embedder, sparse) != []
    finally:
        target.close()


def test_copying_an_empty_collection_copies_nothing(vector_store: VectorStore, tmp_path: Path) -> None:
    vector_store.ensure_collection("c", 4)
    target = _other(vector_store, tmp_path)
    try:
        assert copy_collection(vector_store, target, "c") == 0
        assert not target.collection_exists("c")
    finally:
        target.close()
