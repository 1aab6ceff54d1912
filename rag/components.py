"""Build the components once, from settings, at startup (CLI or FastAPI lifespan); they are passed in, never global."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag.access.namespace import CollectionNamespace
from rag.answering.requests import RequestBuilder
from rag.answering.retrieval import Retriever
from rag.embedding.base import DenseEmbedder
from rag.embedding.dense import packaged_minilm_path
from rag.embedding.lazy import LazyEmbedder
from rag.embedding.sparse import Bm25Encoder
from rag.evidence.injection import InjectionDetector
from rag.settings import AccessSettings, EmbeddingSettings, RetrievalSettings, Settings, StoreSettings
from rag.store.base import VectorStore
from rag.store.fusion import Fusion
from rag.store.index import HnswParams

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from rag.answering.pipeline import RagPipeline

# Heavy modules (a store client, the model backends, the LLM stack) are imported where a setting selects them, so
# a command that needs none of them (an unchanged re-ingest, `rag status`) starts in a second or two.


def hnsw_params(settings: StoreSettings) -> HnswParams:
    return HnswParams(m=settings.hnsw_m, ef_construct=settings.hnsw_ef_construct, ef=settings.hnsw_ef)


def fusion(settings: RetrievalSettings) -> Fusion:
    return Fusion(
        settings.fusion,
        settings.rrf_k,
        (settings.fusion_dense_weight, settings.fusion_sparse_weight),
    )


def namespace(settings: AccessSettings) -> CollectionNamespace:
    return CollectionNamespace(settings.tenant_isolation, home_tenant=settings.tenant)


def build_store(settings: StoreSettings) -> VectorStore:
    if settings.url is None and settings.embedded_store == "edge":
        from rag.store.edge import EdgeStore

        return EdgeStore.under(settings.path, hnsw=hnsw_params(settings), indexed_metadata=settings.indexed_metadata)
    from rag.store.qdrant import QdrantStore

    api_key = settings.api_key.get_secret_value() if settings.api_key else None
    return QdrantStore(
        url=settings.url,
        api_key=api_key,
        path=settings.path,
        timeout_s=settings.timeout_s,
        hnsw=hnsw_params(settings),
        indexed_metadata=settings.indexed_metadata,
        shard_number=settings.shard_number,
        replication_factor=settings.replication_factor,
    )


@dataclass
class Components:
    """Everything ingestion and retrieval need; `close` releases the store (local mode holds a file lock)."""

    settings: Settings
    store: VectorStore
    embedder: DenseEmbedder
    sparse: Bm25Encoder
    retriever: Retriever
    namespace: CollectionNamespace
    requests: RequestBuilder
    injection: InjectionDetector  # one per process: it embeds its known phrasings once, at first use

    def close(self) -> None:
        self.store.close()


def build_embedder(settings: EmbeddingSettings, *, lazy: bool = False) -> DenseEmbedder:
    """The configured backend: ONNX int8 or PyTorch on CPU, the batched fp16 path on CUDA. `lazy` defers loading
    the model to its first use (ingestion of an unchanged corpus never needs it)."""
    source = settings.model_path or packaged_minilm_path()
    name = settings.model_path.name if settings.model_path else "all-MiniLM-L6-v2"

    def load() -> DenseEmbedder:
        from rag.embedding.device import resolve_device

        device = resolve_device(settings.device)
        if device.startswith("cuda"):
            from rag.embedding.batched import BatchedTransformerEmbedder

            return BatchedTransformerEmbedder(source, name=name, device=device, batch_size=settings.gpu_batch_size)
        if settings.backend == "onnx-int8":
            from rag.embedding.onnx import OnnxEmbedder
            from rag.embedding.onnx_export import onnx_model_dir

            model_dir = onnx_model_dir(source, settings.cache_dir, name)
            return OnnxEmbedder(model_dir, batch_tokens=settings.batch_tokens)
        from rag.embedding.dense import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder(settings.model_path, device=device, batch_tokens=settings.batch_tokens)

    return LazyEmbedder(load, name=name, tokenizer_dir=source) if lazy else load()


def build_components(
    settings: Settings, *, lazy_embedder: bool = False, embedder: DenseEmbedder | None = None
) -> Components:
    """The components the settings configure; `embedder`, when given, is used as it is (one already loaded: the
    tests share one across the apps they start)."""
    embedder = build_embedder(settings.embedding, lazy=lazy_embedder) if embedder is None else embedder
    sparse = Bm25Encoder(
        k1=settings.embedding.bm25_k1, b=settings.embedding.bm25_b, avg_len=settings.embedding.bm25_avg_len
    )
    store = build_store(settings.store)
    names = namespace(settings.access)
    retriever = Retriever(
        store,
        embedder,
        sparse,
        prefetch_k=settings.retrieval.prefetch_k,
        fusion=fusion(settings.retrieval),
        namespace=names,
        listed=settings.store.collection,
    )
    return Components(
        settings=settings,
        store=store,
        embedder=embedder,
        sparse=sparse,
        retriever=retriever,
        namespace=names,
        requests=RequestBuilder(settings),
        injection=InjectionDetector(embedder, min_similarity=settings.evidence.injection_min_similarity),
    )


def build_pipeline(components: Components, chat_model: BaseChatModel | None = None) -> RagPipeline:
    from rag.answering.pipeline import PipelineConfig, RagPipeline
    from rag.llm.factory import build_chat_model

    model = chat_model or build_chat_model(components.settings)
    return RagPipeline(components.retriever, model, PipelineConfig.from_settings(components.settings))


def hold_default_collection(store: VectorStore, settings: StoreSettings) -> None:
    """Open the configured collection of an embedded store now, if it exists, rather than at its first use (Edge
    opens shards lazily): the store is then this process's from the start, and one that another process holds fails
    here with `StoreBusy` (`rag serve` at startup). A Qdrant server is shared, and may come up later: left alone."""
    if settings.url is None and store.collection_exists(settings.collection):
        store.count(settings.collection)
