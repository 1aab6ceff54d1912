"""How a hybrid query fuses its dense and sparse results: a setting of the retriever, translated by each engine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rag.settings import RetrievalSettings, default_of


@dataclass(frozen=True, slots=True)
class Fusion:
    """How hybrid results are fused. `rrf`: sum of weight / (k + rank) over the prefetches (`weights` are dense,
    sparse); `dbsf`: each prefetch's scores normalized by their mean +- 3 standard deviations, then summed."""

    method: Literal["rrf", "dbsf"]  # no default here: the platform's is RAG_FUSION (rag/settings.py)
    # RRF's own parameters (DBSF has none), by default the settings' (RAG_RRF_K, RAG_FUSION_*_WEIGHT)
    rrf_k: int = default_of(RetrievalSettings, "rrf_k")
    weights: tuple[float, float] = (
        default_of(RetrievalSettings, "fusion_dense_weight"),
        default_of(RetrievalSettings, "fusion_sparse_weight"),
    )
