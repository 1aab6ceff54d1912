"""How a hybrid query fuses its dense and sparse results: a setting of the retriever, translated by each engine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class Fusion:
    """How hybrid results are fused. `rrf`: sum of weight / (k + rank) over the prefetches (`weights` are dense,
    sparse); `dbsf`: each prefetch's scores normalized by their mean +- 3 standard deviations, then summed."""

    method: Literal["rrf", "dbsf"]  # no default here: the platform's is RAG_FUSION (rag/settings.py)
    # RRF's own parameters (DBSF has none): k from the RRF paper, equal weights (plain RRF) unless given
    rrf_k: int = 60
    weights: tuple[float, float] = (1.0, 1.0)
