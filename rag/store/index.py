"""Vector index settings shared by every engine, so a collection is built and searched the same way anywhere."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from rag.settings import StoreSettings, default_of

C = TypeVar("C")


@dataclass(frozen=True, slots=True)
class HnswParams:
    """HNSW graph degree `m`, build beam `ef_construct`, search beam `ef`; segments under `full_scan_threshold_kb`
    of vectors are searched exactly (Qdrant's own rule)."""

    m: int = default_of(StoreSettings, "hnsw_m")
    ef_construct: int = default_of(StoreSettings, "hnsw_ef_construct")
    ef: int = default_of(StoreSettings, "hnsw_ef")
    full_scan_threshold_kb: int = 10_000

    def config(self, make: Callable[..., C]) -> C:
        """The graph settings as Qdrant's HNSW config of an engine's types (`make`: Edge's `HnswIndexConfig`,
        qdrant-client's `HnswConfigDiff`)."""
        return make(m=self.m, ef_construct=self.ef_construct, full_scan_threshold=self.full_scan_threshold_kb)
