"""The evaluated corpus, ingested once per (corpus bytes, embedding backend, chunking settings) into a collection of
its own, so a second evaluation embeds nothing but its queries. The collection is named by that content key alone:
the same corpus under another folder is the same collection.

The collection lives in the configured Qdrant server when `RAG_QDRANT_URL` is set, otherwise in an embedded store
under `<cache_dir>/eval/` (never in the user's own store). Ingestion is the same `Ingestor` that `rag ingest` runs,
so an interrupted first run is finished, not redone, by the next. Each opening is recorded next to the cache
(evals/eval_manifest.py: which dataset folder, which settings), for `rag eval cache list|prune`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from evals.eval_manifest import record_use
from ingest.loaders import load
from ingest.sources.base import SourceFile
from ingest.sync import Ingestor, IngestSummary
from rag.components import Components, build_components
from rag.settings import Settings

log = logging.getLogger(__name__)
TENANT = "eval"


@dataclass
class EvalIndex:
    components: Components
    collection: str
    ingest: IngestSummary


def eval_settings(settings: Settings) -> Settings:
    """`settings` with the embedded store moved under the cache directory, and the evaluation's tenant as the home
    tenant (its collections keep plain names under strict tenant isolation, rag/access/namespace.py)."""
    update: dict[str, object] = {"tenant": TENANT}
    if settings.store.url is None:
        update["qdrant_path"] = settings.embedding.cache_dir / "eval" / "qdrant"
    return settings.updated(**update)


def collection_key(dataset: Path, settings: Settings) -> str:
    """Changes when the stored vectors would: the corpus bytes, the model and backend, the chunking."""
    digest = hashlib.sha256()
    with (dataset / "corpus.jsonl").open("rb") as corpus:
        for block in iter(lambda: corpus.read(1 << 20), b""):
            digest.update(block)
    model = str(settings.embedding.model_path or "all-MiniLM-L6-v2")
    digest.update(
        json.dumps(
            [model, settings.embedding.backend, settings.ingest.chunk_size, settings.ingest.chunk_overlap]
        ).encode()
    )
    return digest.hexdigest()[:12]


def open_eval_index(dataset: Path, settings: Settings) -> EvalIndex:
    """The dataset's corpus in its cached collection (ingested now if missing or incomplete). Close the components."""
    settings = eval_settings(settings)
    collection = f"eval-{collection_key(dataset, settings)}"
    components = build_components(settings, lazy_embedder=True)
    try:
        ingestor = Ingestor.for_components(components, collection=collection, tenant=TENANT)
        corpus = dataset / "corpus.jsonl"
        summary = ingestor.run(load([SourceFile(corpus, corpus.name)]))
    except BaseException:
        components.close()
        raise
    log.info(
        "eval collection %s: %d documents unchanged, %d added, %d chunks embedded",
        collection,
        summary.documents_unchanged,
        summary.documents_added + summary.documents_updated,
        summary.chunks_upserted,
    )
    record_use(settings, components.store.location, collection, dataset)
    return EvalIndex(components, collection, summary)
