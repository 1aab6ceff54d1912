"""The store suite: what every engine must do alike, as mixin test classes (the shape of Haystack's
`haystack/testing/document_store.py`).

A test module subclasses `StoreSuite` (or the mixins it wants) once per engine and provides a `store_factory`
fixture: a `StoreFactory` whose stores all open the same place (the test's folder, or a server) and are closed,
and their collections gone, after the test; the suite's tests take `engine`, one store of that factory. The suite
also uses `embedder` and `sparse` fixtures (the real models: tests/conftest.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
import pytest

from rag.access.document_access import Reader
from rag.access.namespace import CollectionNamespace
from rag.answering.requests import RequestBuilder, RetrievalRequest
from rag.answering.retrieval import Retriever
from rag.components import fusion as fusion_of
from rag.domain import Chunk, SparseVector
from rag.embedding.base import DenseEmbedder, SparseEncoder
from rag.errors import InvalidInput, NotFound
from rag.settings import RetrievalMode, RetrievalSettings, Settings
from rag.store.base import PayloadFilter, VectorStore, document_hashes
from rag.store.engine import StoreEngine
from rag.store.fusion import Fusion
from rag.store.index import HnswParams

FUSION = fusion_of(RetrievalSettings())  # the platform's default fusion, for hybrid queries
REQUESTS = RequestBuilder(Settings(_env_file=None))


def retriever_over(store: VectorStore, embedder: DenseEmbedder, sparse: SparseEncoder) -> Retriever:
    """The platform's retriever over `store`, its collections named as stored."""
    return Retriever(store, embedder, sparse, prefetch_k=10, fusion=FUSION, namespace=CollectionNamespace("shared"))


def asked(
    query: str, tenant: str, top_k: int, mode: RetrievalMode, filters: PayloadFilter | None = None
) -> RetrievalRequest:
    """A search of collection `c` as the builder makes it, without the relevance floor: the engines' rankings are
    under test."""
    return REQUESTS.retrieval(
        query, tenant=tenant, collection="c", top_k=top_k, mode=mode, filters=filters, min_relevance=0.0
    )


TEXTS = {
    "helm.md": "Deploy the platform on Kubernetes with the Helm chart: helm install rag ./helm.",
    "ingest.md": "Run rag ingest with a directory of Markdown files to load documents.",
    "cats.md": "Cats sleep for most of the day and hunt at night.",
}
QUESTION = "how do I install the helm chart"


class StoreFactory(Protocol):
    def __call__(self, *, hnsw: HnswParams | None = None, indexed_metadata: Sequence[str] = ()) -> StoreEngine: ...


def fill(store: VectorStore, embedder: DenseEmbedder, sparse: SparseEncoder, tenant: str, name: str = "c") -> None:
    """The three TEXTS as one-chunk documents of `tenant`, with metadata `team` (the file name's stem)."""
    store.ensure_collection(name, embedder.dimension)
    chunks = [
        Chunk(tenant, doc_id, f"hash-{doc_id}", 0, text, doc_id, f"docs/{doc_id}", {"team": doc_id.split(".")[0]})
        for doc_id, text in TEXTS.items()
    ]
    texts = [c.embed_text for c in chunks]
    store.upsert(name, chunks, embedder.embed_documents(texts), sparse.encode_documents(texts))


def ranked(store: VectorStore, embedder: DenseEmbedder, sparse: SparseEncoder, *, exact: bool = False) -> list[str]:
    """The point ids and scores of every mode for QUESTION, tenant t1, in collection `c`."""
    dense, terms = embedder.embed_query(QUESTION), sparse.encode_query(QUESTION)
    return [
        f"{mode} {h.chunk.point_id} {h.score:.4f}"
        for mode in ("dense", "sparse", "hybrid")
        for h in store.query(
            "c",
            reader=Reader.whole_tenant("t1"),
            mode=mode,
            dense=dense,
            sparse=terms,
            limit=3,
            prefetch_limit=10,
            exact=exact,
            fusion=FUSION,
        )
    ]


class StoreFixtures:
    @pytest.fixture
    def engine(self, store_factory: StoreFactory) -> StoreEngine:
        """One store of the engine under test."""
        return store_factory()


NO_TERMS = SparseVector([], [])
# Every public method with a collection name, each given `name`.
NAMED_CALLS: dict[str, Callable[[StoreEngine, str], object]] = {
    "collection_exists": lambda s, n: s.collection_exists(n),
    "ensure_collection": lambda s, n: s.ensure_collection(n, 4),
    "drop_collection": lambda s, n: s.drop_collection(n),
    "upsert": lambda s, n: s.upsert(n, [Chunk("t", "d", "h", 0, "x", "", "")], [[1.0, 0, 0, 0]], [NO_TERMS]),
    "delete_stale": lambda s, n: s.delete_stale(n, "t", "d", "h"),
    "delete_document": lambda s, n: s.delete_document(n, "t", "d"),
    "documents": lambda s, n: s.documents(n, Reader.whole_tenant("t")),
    "count": lambda s, n: s.count(n, Reader.whole_tenant("t")),
    "scroll_points": lambda s, n: list(s.scroll_points(n)),
    "query": lambda s, n: s.query(
        n, reader=Reader.whole_tenant("t"), mode="dense", dense=[1.0, 0, 0, 0], sparse=None, limit=1, prefetch_limit=2
    ),
    "query matching nothing": lambda s, n: s.query(
        n, reader=Reader.whole_tenant("t"), mode="sparse", dense=None, sparse=NO_TERMS, limit=1, prefetch_limit=1
    ),
    "optimize": lambda s, n: s.optimize(n),
    "index_info": lambda s, n: s.index_info(n),
}
BAD_NAMES = ["", "a b", "../up", "-dash", "x/y", "a@b@c", "docs\n", "x" * 256]
ANSWER_WHEN_MISSING = {"collection_exists": False, "documents": []}


class CollectionsTest(StoreFixtures):
    @pytest.mark.parametrize("call", sorted(NAMED_CALLS))
    def test_a_bad_collection_name_is_invalid_input_everywhere(self, engine: StoreEngine, call: str) -> None:
        for name in BAD_NAMES:
            with pytest.raises(InvalidInput) as exc:
                NAMED_CALLS[call](engine, name)
            assert exc.value.param == "collection", name
        assert not set(BAD_NAMES) & set(engine.list_collections())

    @pytest.mark.parametrize("call", sorted(set(NAMED_CALLS) - {"ensure_collection"}))
    def test_a_missing_collection_is_not_found_everywhere(self, engine: StoreEngine, call: str) -> None:
        if call in ANSWER_WHEN_MISSING:
            assert NAMED_CALLS[call](engine, "missing") == ANSWER_WHEN_MISSING[call]
            return
        with pytest.raises(NotFound) as exc:
            NAMED_CALLS[call](engine, "missing")
        assert exc.value.message == "collection 'missing' does not exist" and exc.value.param == "collection"

    def test_names_of_tenant_collections_are_valid(self, engine: StoreEngine) -> None:
        for name in ("docs@acme", "docs@~0123456789abcdef", "v1.2_x-y"):
            engine.ensure_collection(name, 4)
        assert {"docs@acme", "docs@~0123456789abcdef", "v1.2_x-y"} <= set(engine.list_collections())

    def test_dimension_mismatch_is_refused(self, engine: StoreEngine) -> None:
        engine.ensure_collection("c", 384)
        engine.ensure_collection("c", 384)  # again: nothing to do
        with pytest.raises(InvalidInput):
            engine.ensure_collection("c", 768)

    def test_misaligned_vectors_are_refused(self, engine: StoreEngine) -> None:
        engine.ensure_collection("c", 4)
        with pytest.raises(ValueError, match="aligned"):
            engine.upsert("c", [Chunk("t", "d", "h", 0, "x", "", "")], [], [])

    def test_drop_collection_removes_it_and_its_points(
        self, engine: StoreEngine, embedder: DenseEmbedder, sparse: SparseEncoder
    ) -> None:
        fill(engine, embedder, sparse, "t1")
        engine.drop_collection("c")
        assert "c" not in engine.list_collections()
        assert not engine.collection_exists("c")
        with pytest.raises(NotFound):
            engine.drop_collection("c")
        fill(engine, embedder, sparse, "t2")  # the name can be used again, empty
        assert engine.count("c") == len(TEXTS)
        assert engine.count("c", Reader.whole_tenant("t1")) == 0


class DocumentsTest(StoreFixtures):
    def test_document_hashes_delete_stale_and_delete_document(
        self, engine: StoreEngine, embedder: DenseEmbedder, sparse: SparseEncoder
    ) -> None:
        fill(engine, embedder, sparse, "t1")
        assert document_hashes(engine, "c", "t1")["helm.md"] == {"hash-helm.md"}
        engine.delete_stale("c", "t1", "helm.md", keep_hash="other")
        assert "helm.md" not in document_hashes(engine, "c", "t1")
        engine.delete_document("c", "t1", "cats.md")
        assert set(document_hashes(engine, "c", "t1")) == {"ingest.md"}
        assert engine.count("c", Reader.whole_tenant("t1"), doc_id="ingest.md") == 1

    def test_change_tokens_are_stored_read_back_and_set_in_place(
        self, engine: StoreEngine, embedder: DenseEmbedder, sparse: SparseEncoder
    ) -> None:
        """A document's change token (ingest/sources/) on every chunk: `documents` reads it, `set_change_token` sets
        it on all of the document's chunks of that tenant, and nothing else."""
        fill(engine, embedder, sparse, "t1")
        fill(engine, embedder, sparse, "t2")
        assert {d.doc_id: d.tokens for d in engine.documents("c", Reader.whole_tenant("t1"))}["helm.md"] == {""}
        engine.set_change_token("c", "t1", "helm.md", "etag-2")
        tokens = {(d.tenant, d.doc_id): d.tokens for d in engine.documents("c")}
        assert tokens[("t1", "helm.md")] == {"etag-2"}
        assert tokens[("t2", "helm.md")] == {""} and tokens[("t1", "cats.md")] == {""}
        (chunk,) = [c for p in engine.scroll_points("c") for c in p.chunks if (c.tenant, c.doc_id) == ("t1", "helm.md")]
        assert chunk.change_token == "etag-2"

    def test_scroll_points_pages_through_every_point_with_its_vectors(
        self, engine: StoreEngine, embedder: DenseEmbedder, sparse: SparseEncoder
    ) -> None:
        for tenant in ("t1", "t2"):
            fill(engine, embedder, sparse, tenant)
        pages = list(engine.scroll_points("c", batch=4))
        assert [len(p.chunks) for p in pages] == [4, 2]
        chunks = [c for p in pages for c in p.chunks]
        assert len({c.point_id for c in chunks}) == 6 and {c.tenant for c in chunks} == {"t1", "t2"}
        assert all(len(d) == embedder.dimension for p in pages for d in p.dense)
        assert all(s.indices for p in pages for s in p.sparse)
        assert {d.doc_id for d in engine.documents("c")} == set(TEXTS) and len(engine.documents("c")) == 6


class QueryTest(StoreFixtures):
    @pytest.mark.parametrize("mode", ["dense", "sparse", "hybrid"])
    def test_each_mode_finds_the_relevant_chunk(
        self, engine: StoreEngine, embedder: DenseEmbedder, sparse: SparseEncoder, mode: str
    ) -> None:
        fill(engine, embedder, sparse, "t1")
        hits = retriever_over(engine, embedder, sparse).retrieve(asked(QUESTION, "t1", 2, mode))  # type: ignore[arg-type]
        assert hits[0].chunk.doc_id == "helm.md"
        assert hits[0].score > 0

    @pytest.mark.parametrize("mode", ["dense", "sparse", "hybrid"])
    def test_hits_carry_their_stored_dense_vector_when_asked(
        self, engine: StoreEngine, embedder: DenseEmbedder, sparse: SparseEncoder, mode: str
    ) -> None:
        fill(engine, embedder, sparse, "t1")
        reader, question = Reader.whole_tenant("t1"), embedder.embed_query(QUESTION)
        terms = sparse.encode_query(QUESTION)
        asked = {"dense": question, "sparse": terms, "limit": 3, "prefetch_limit": 10, "mode": mode, "fusion": FUSION}
        assert all(h.dense is None for h in engine.query("c", reader=reader, **asked))  # type: ignore[arg-type]
        hits = engine.query("c", reader=reader, with_dense=True, **asked)  # type: ignore[arg-type]
        assert hits
        for hit in hits:  # the vector stored for the chunk (an engine may normalize it: cosine distance)
            assert hit.dense is not None
            stored = np.asarray(embedder.embed_documents([hit.chunk.embed_text])[0])
            got = np.asarray(hit.dense)
            assert float(got @ stored / (np.linalg.norm(got) * np.linalg.norm(stored))) > 0.999

    def test_tenants_never_see_each_other(
        self, engine: StoreEngine, embedder: DenseEmbedder, sparse: SparseEncoder
    ) -> None:
        fill(engine, embedder, sparse, "t1")
        retriever = retriever_over(engine, embedder, sparse)
        assert retriever.retrieve(asked("helm", "t2", 5, "hybrid")) == []
        assert engine.count("c", Reader.whole_tenant("t1")) == 3 and engine.count("c", Reader.whole_tenant("t2")) == 0
        with pytest.raises(InvalidInput):
            retriever.retrieve(asked("helm", "t2", 5, "hybrid", filters={"tenant": "t1"}))

    def test_payload_and_metadata_filters(
        self, engine: StoreEngine, embedder: DenseEmbedder, sparse: SparseEncoder
    ) -> None:
        fill(engine, embedder, sparse, "t1")
        retriever = retriever_over(engine, embedder, sparse)
        hits = retriever.retrieve(asked("helm", "t1", 5, "dense", filters={"team": "cats"}))
        assert [h.chunk.doc_id for h in hits] == ["cats.md"]
        hits = retriever.retrieve(asked("helm", "t1", 5, "hybrid", filters={"doc_id": ["ingest.md", "cats.md"]}))
        assert {h.chunk.doc_id for h in hits} == {"ingest.md", "cats.md"}
        for bad_key in ("tT\u00f7J\u00f4", "a..b", "a b", ".a", "x" * 129):  # not JSON paths Qdrant accepts
            with pytest.raises(InvalidInput):  # the first was a 500, found by tests/test_fuzz.py
                retriever.retrieve(asked("helm", "t1", 5, "hybrid", filters={bad_key: "v"}))

    def test_fusion_method_and_weights_reach_the_engine(self, engine: StoreEngine) -> None:
        """A is the dense side's best, B the sparse side's, C only found by the dense side (second). Qdrant's weighted
        RRF scores a position p (from 0) as 1 / ((p + 1) / weight + k - 1)."""
        engine.ensure_collection("c", 4)
        vectors = {"A": ([1.0, 0, 0, 0], {7: 0.1}), "B": ([0, 1.0, 0, 0], {7: 5.0}), "C": ([0.6, 0.8, 0, 0], {8: 1.0})}
        chunks = [Chunk("t", d, f"h{d}", 0, d, d, d) for d in vectors]
        sparse_vectors = [SparseVector(list(s), list(s.values())) for _, s in vectors.values()]
        engine.upsert("c", chunks, [v for v, _ in vectors.values()], sparse_vectors)

        def scores(fusion: Fusion) -> dict[str, float]:
            hits = engine.query(
                "c",
                reader=Reader.whole_tenant("t"),
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

    def test_exact_and_indexed_search_agree_and_any_beam_is_accepted(
        self, store_factory: StoreFactory, embedder: DenseEmbedder, sparse: SparseEncoder
    ) -> None:
        """`exact` is a results contract, not a request every engine must see: where a search is exact anyway (a small
        collection, or an engine without an index) both answer the same. A narrow search beam is taken alike."""
        store = store_factory(hnsw=HnswParams(m=4, ef_construct=8, ef=2))
        fill(store, embedder, sparse, "t1")
        store.optimize("c")
        exact = ranked(store, embedder, sparse, exact=True)
        assert exact == ranked(store, embedder, sparse, exact=False)
        assert {r.split()[0] for r in exact} == {"dense", "sparse", "hybrid"}


class IndexTest(StoreFixtures):
    def test_payload_indexes_are_built_or_reported(
        self, store_factory: StoreFactory, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Configured metadata keys get keyword indexes, an existing collection too once they are configured; an
        engine that cannot index says so when it opens, and lists no indexes."""
        first = store_factory()
        first.ensure_collection("c", 4)
        assert "metadata.team" not in first.index_info("c")["payload_indexes"]
        first.close()
        with caplog.at_level(logging.WARNING, logger="rag.store.engine"):
            store = store_factory(indexed_metadata=["team"])
        store.ensure_collection("c", 4)
        indexes = set(store.index_info("c")["payload_indexes"])
        warned = [r.getMessage() for r in caplog.records if "cannot index payload fields" in r.getMessage()]
        if store.indexes_payload:
            assert {"tenant", "doc_id", "doc_hash", "metadata.team"} <= indexes and not warned
        else:
            assert indexes == set() and len(warned) == 1 and "team" in warned[0]

    def test_index_info_counts_points(
        self, engine: StoreEngine, embedder: DenseEmbedder, sparse: SparseEncoder
    ) -> None:
        fill(engine, embedder, sparse, "t1")
        info = engine.index_info("c")
        assert info["points"] == 3 and 0 <= info["indexed_vectors"] <= 3 and info["segments"] >= 1


class StoreSuite(CollectionsTest, DocumentsTest, QueryTest, IndexTest):
    """Everything a store must do alike on every engine."""
