"""An ingestor built by hand for a test, without the components: into collection `c` of `tenant`, the collection
named as stored (no tenant suffix), with the settings' ingest bounds but those given (`batch_chunks=`,
`max_chunks=`)."""

from __future__ import annotations

from typing import Any

from ingest.chunking import Chunker
from ingest.sync import Ingestor
from rag.access.namespace import CollectionNamespace
from rag.embedding.base import DenseEmbedder, SparseEncoder
from rag.evidence.injection import InjectionDetector
from rag.settings import IngestSettings
from rag.store.base import VectorStore

AS_STORED = CollectionNamespace("shared")  # collections named as stored


def ingestor_into_c(
    store: VectorStore,
    embedder: DenseEmbedder,
    sparse: SparseEncoder,
    chunker: Chunker,
    *,
    tenant: str = "t",
    detector: InjectionDetector | None = None,
    **bounds: Any,
) -> Ingestor:
    return Ingestor(
        store,
        embedder,
        sparse,
        chunker,
        collection="c",
        tenant=tenant,
        namespace=AS_STORED,
        bounds=IngestSettings(**bounds),
        detector=detector,
    )
