"""The Qdrant store with real embeddings: schema, tenant isolation, filters, each retrieval mode."""

from pathlib import Path

import numpy as np
import pytest

from rag.domain import Chunk, SparseVector
from rag.embedding.dense import SentenceTransformerEmbedder
from rag.embedding.sparse import Bm25Encoder
from rag.errors import InvalidInput, NotFound
from rag.retrieval import RetrievalRequest, Retriever
from rag.store.base import VectorStore, document_hashes
from rag.store.edge import EdgeStore
from rag.store.fusion import Fusion
from rag.store.qdrant import QdrantStore
from rag.store.transfer import copy_collection

TEXTS = {
    "helm.md": "Deploy the platform on Kubernetes with the Helm chart: helm install rag ./helm.",
    "ingest.md": "Run rag ingest with a directory of Markdown files to load documents.",
    "cats.md": "Cats sleep for most of the day and hunt at night.",
}


def _fill(store: VectorStore, embedder: SentenceTransformerEmbedder, sparse: Bm25Encoder, tenant: str) -> None:
    store.ensure_collection("c", embedder.dimension)
    chunks = [
        Chunk(
            tenant,
            doc_id,
            f"hash-{doc_id}",
            0,
            text,
            doc_id,
            f"docs/{doc_id}",
            {"team": doc_id.split(".")[0]},
        )
        for doc_id, text in TEXTS.items()
    ]
    texts = [c.embed_text for c in chunks]
    store.upsert("c", chunks, embedder.embed_documents(texts), sparse.encode_documents(texts))


@pytest.mark.parametrize("mode", ["dense", "sparse", "hybrid"])
def test_each_mode_finds_the_relevant_chunk(
    store: VectorStore, embedder: SentenceTransformerEmbedder, sparse: Bm25Encoder, mode: str
) -> None:
    _fill(store, embedder, sparse, "t1")
    retriever = Retriever(store, embedder, sparse, prefetch_k=10)
    hits = retriever.retrieve(RetrievalRequest("how do I install the helm chart", "c", "t1", 2, mode))  # type: ignore[arg-type]
    assert hits[0].chunk.doc_id == "helm.md"
    assert hits[0].score > 0


def test_tenants_never_see_each_other(
    store: VectorStore, embedder: SentenceTransformerEmbedder, sparse: Bm25Encoder
) -> None:
    _fill(store, embedder, sparse, "t1")
    retriever = Retriever(store, embedder, sparse, prefetch_k=10)
    assert retriever.retrieve(RetrievalRequest("helm", "c", "t2", 5, "hybrid")) == []
    assert store.count("c", "t1") == 3 and store.count("c", "t2") == 0
    with pytest.raises(InvalidInput):
        retriever.retrieve(RetrievalRequest("helm", "c", "t2", 5, "hybrid", filters={"tenant": "t1"}))


def test_payload_and_metadata_filters(
    store: VectorStore, embedder: SentenceTransformerEmbedder, sparse: Bm25Encoder
) -> None:
    _fill(store, embedder, sparse, "t1")
    retriever = Retriever(store, embedder, sparse, prefetch_k=10)
    hits = retriever.retrieve(RetrievalRequest("helm", "c", "t1", 5, "dense", filters={"team": "cats"}))
    assert [h.chunk.doc_id for h in hits] == ["cats.md"]
    hits = retriever.retrieve(
        RetrievalRequest("helm", "c", "t1", 5, "hybrid", filters={"doc_id": ["ingest.md", "cats.md"]})
    )
    assert {h.chunk.doc_id for h in hits} == {"ingest.md", "cats.md"}
    for bad_key in (  # not JSON paths Qdrant accepts (the first was a 500, found by tests/test_fuzz.py)
        "tT\u00f7J\u00f4",
        "a..b",
        "a b",
        ".a",
        "x" * 129,
    ):  # not a JSON path Qdrant accepts (found by fuzzing)
        with pytest.raises(InvalidInput):
            retriever.retrieve(RetrievalRequest("helm", "c", "t1", 5, "hybrid", filters={bad_key: "v"}))


def test_document_hashes_delete_stale_and_delete_document(
    store: VectorStore, embedder: SentenceTransformerEmbedder, sparse: Bm25Encoder
) -> None:
    _fill(store, embedder, sparse, "t1")
    assert document_hashes(store, "c", "t1")["helm.md"] == {"hash-helm.md"}
    store.delete_stale("c", "t1", "helm.md", keep_hash="other")
    assert "helm.md" not in document_hashes(store, "c", "t1")
    store.delete_document("c", "t1", "cats.md")
    assert set(document_hashes(store, "c", "t1")) == {"ingest.md"}


def test_unknown_collection_is_not_found(
    store: VectorStore, embedder: SentenceTransformerEmbedder, sparse: Bm25Encoder
) -> None:
    retriever = Retriever(store, embedder, sparse, prefetch_k=10)
    with pytest.raises(NotFound):
        retriever.retrieve(RetrievalRequest("helm", "missing", "t1", 5, "hybrid"))


def test_dimension_mismatch_is_refused(store: VectorStore) -> None:
    store.ensure_collection("c", 384)
    with pytest.raises(InvalidInput):
        store.ensure_collection("c", 768)


def test_langchain_retriever_adapter(
    store: VectorStore, embedder: SentenceTransformerEmbedder, sparse: Bm25Encoder
) -> None:
    from rag.langchain_retriever import RagRetriever

    _fill(store, embedder, sparse, "t1")
    lc = RagRetriever(retriever=Retriever(store, embedder, sparse, prefetch_k=10), collection="c", tenant="t1", top_k=2)
    docs = lc.invoke("helm chart install")
    assert len(docs) == 2
    assert docs[0].metadata["doc_id"] == "helm.md" and "helm install" in docs[0].page_content


def test_engines_agree_on_ids_scores_and_order(
    tmp_path: Path, embedder: SentenceTransformerEmbedder, sparse: Bm25Encoder
) -> None:
    """The same ingest gives the same points anywhere: Edge and qdrant-client's local mode rank identically."""
    engines: list[VectorStore] = [EdgeStore(tmp_path / "edge"), QdrantStore(path=tmp_path / "local")]
    query = "how do I install the helm chart"
    try:
        results = []
        for engine in engines:
            _fill(engine, embedder, sparse, "t1")
            retriever = Retriever(engine, embedder, sparse, prefetch_k=10)
            ranked: dict[str, list[tuple[str, float]]] = {}
            for mode in ("dense", "sparse", "hybrid"):
                hits = retriever.retrieve(RetrievalRequest(query, "c", "t1", 3, mode))  # type: ignore[arg-type]
                ranked[mode] = [(h.chunk.point_id, round(h.score, 4)) for h in hits]
            results.append(ranked)
        assert results[0] == results[1]
        assert all(results[0][mode] for mode in ("dense", "sparse", "hybrid"))
    finally:
        for engine in engines:
            engine.close()


def _other(store: VectorStore, tmp_path: Path) -> VectorStore:
    return QdrantStore(path=tmp_path / "other") if isinstance(store, EdgeStore) else EdgeStore(tmp_path / "other")


def test_copy_collection_moves_every_point_to_the_other_engine(
    store: VectorStore, tmp_path: Path, embedder: SentenceTransformerEmbedder, sparse: Bm25Encoder
) -> None:
    """A collection streamed to another engine keeps ids, payload and vectors: the target ranks as the source."""
    for tenant in ("t1", "t2"):
        _fill(store, embedder, sparse, tenant)
    target = _other(store, tmp_path)
    try:
        assert copy_collection(store, target, "c", batch=2) == 6
        assert copy_collection(store, target, "c", batch=2) == 6  # a rerun rewrites the same points
        assert target.count("c") == 6 and target.count("c", "t2") == 3
        assert document_hashes(target, "c", "t1") == document_hashes(store, "c", "t1")
        dense, query = embedder.embed_query("helm install"), sparse.encode_query("helm install")
        for mode in ("dense", "sparse", "hybrid"):
            ranked = [
                [
                    (h.chunk.point_id, round(h.score, 4))
                    for h in engine.query(
                        "c", tenant="t2", mode=mode, dense=dense, sparse=query, limit=3, prefetch_limit=10
                    )
                ]
                for engine in (store, target)
            ]
            assert ranked[0] == ranked[1] and ranked[0]
    finally:
        target.close()


def test_edge_builds_its_hnsw_index_on_optimize_and_it_finds_what_exact_search_finds(tmp_path: Path) -> None:
    """Edge has no background optimizer: without `optimize` nothing is indexed. 8,000 points are past Qdrant's
    indexing threshold; each of 50 stored vectors, queried, must come back first through the index as exactly."""
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(8000, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    chunks = [Chunk("t", f"d{i}", "h", 0, f"text {i}", "", "s") for i in range(len(vectors))]
    no_terms = [SparseVector([], [])] * len(chunks)
    store = EdgeStore(tmp_path / "edge")
    try:
        store.ensure_collection("big", 384)
        for i in range(0, len(chunks), 1000):
            store.upsert("big", chunks[i : i + 1000], vectors[i : i + 1000].tolist(), no_terms[i : i + 1000])
        assert store.index_info("big")["indexed_vectors"] == 0
        store.optimize("big")
        assert store.index_info("big")["indexed_vectors"] >= len(chunks)
        for i in range(0, len(chunks), 160):
            found = [
                store.query(
                    "big",
                    tenant="t",
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
    finally:
        store.close()


def test_metadata_keys_named_in_settings_get_keyword_indexes(tmp_path: Path) -> None:
    store = EdgeStore(tmp_path / "edge")
    store.ensure_collection("c", 4)
    store.close()
    reopened = EdgeStore(tmp_path / "edge", indexed_metadata=["team"])
    try:
        reopened.ensure_collection("c", 4)  # an existing collection gains the index
        shard = reopened._shard("c")
        assert {"tenant", "doc_id", "doc_hash", "metadata.team"} <= set(shard.info().payload_schema)
    finally:
        reopened.close()


def test_fusion_method_and_weights_reach_the_engine(store: VectorStore) -> None:
    """A is the dense side's best, B the sparse side's, C only found by the dense side (second). Qdrant's weighted RRF
    scores a position p (from 0) as 1 / ((p + 1) / weight + k - 1)."""
    store.ensure_collection("c", 4)
    vectors = {"A": ([1.0, 0, 0, 0], {7: 0.1}), "B": ([0, 1.0, 0, 0], {7: 5.0}), "C": ([0.6, 0.8, 0, 0], {8: 1.0})}
    chunks = [Chunk("t", d, f"h{d}", 0, d, d, d) for d in vectors]
    sparse_vectors = [SparseVector(list(s), list(s.values())) for _, s in vectors.values()]
    store.upsert("c", chunks, [v for v, _ in vectors.values()], sparse_vectors)

    def scores(fusion: Fusion) -> dict[str, float]:
        hits = store.query(
            "c",
            tenant="t",
            mode="hybrid",
            dense=[1.0, 0, 0, 0],
            sparse=SparseVector([7], [1.0]),
            limit=3,
            prefetch_limit=3,
            fusion=fusion,
        )
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        return {h.chunk.doc_id: h.score for h in hits}

    assert scores(Fusion("rrf", 2))["C"] == pytest.approx(1 / (2 + 1))
    assert scores(Fusion("rrf", 2, (4.0, 1.0)))["C"] == pytest.approx(1 / (2 / 4 + 2 - 1))
    assert scores(Fusion("rrf", 2, (1.0, 4.0)))["A"] == pytest.approx(1 / (1 + 1) + 1 / (2 / 4 + 1))
    dbsf = scores(Fusion("dbsf"))
    assert set(dbsf) == {"A", "B", "C"} and dbsf != scores(Fusion("rrf", 2))


def test_drop_collection_removes_it_and_its_points(
    store: VectorStore, embedder: SentenceTransformerEmbedder, sparse: Bm25Encoder
) -> None:
    _fill(store, embedder, sparse, "t1")
    store.drop_collection("c")
    assert "c" not in store.list_collections()
    assert not store.collection_exists("c")
    with pytest.raises(NotFound):
        store.drop_collection("c")
    _fill(store, embedder, sparse, "t2")  # the name can be used again, empty
    assert store.count("c") == len(TEXTS)
    assert store.count("c", "t1") == 0
