"""How a hybrid query fuses its dense and sparse results: a setting of the retriever, translated by each engine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class Fusion:
    """How hybrid results are fused. `rrf`: sum of weight / (k + rank) over the prefetches (`weights` are dense,
    sparse); `dbsf`: each prefetch's scores normalized by their mean +- 3 standard deviations, then summed."""

    method: Literal["rrf", "dbsf"] = "rrf"
    rrf_k: int = 60
    weights: tuple[float, float] = (1.0, 1.0)


DEFAULT_FUSION = Fusion("dbsf")  # the platform default (Settings.fusion), chosen by benchmarks/fusion.py
