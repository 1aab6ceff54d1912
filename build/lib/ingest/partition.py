"""Sharded batch runs: `--shard I/N`, or a Kubernetes Indexed Job's `JOB_COMPLETION_INDEX`/`JOB_COMPLETIONS`, picks a
stable hash partition of the document ids, so N workers together ingest each document exactly once."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Shard:
    index: int
    count: int

    def __post_init__(self) -> None:
        if not (self.count >= 1 and 0 <= self.index < self.count):
            raise ValueError(f"shard {self.index}/{self.count}: need 0 <= I < N")

    def owns(self, doc_id: str) -> bool:
        if self.count == 1:
            return True
        digest = hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8).digest()
        return int.from_bytes(digest, "big") % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


WHOLE = Shard(0, 1)


def parse_shard(text: str) -> Shard:
    """`I/N` with 0 <= I < N."""
    index, sep, count = text.partition("/")
    if not sep or not index.strip().isdigit() or not count.strip().isdigit():
        raise ValueError(f"shard '{text}': expected I/N, e.g. 0/4")
    return Shard(int(index), int(count))


def shard_from_env(environ: Mapping[str, str]) -> Shard:
    """The Indexed Job's partition when both variables are set, otherwise the whole source."""
    index, count = environ.get("JOB_COMPLETION_INDEX"), environ.get("JOB_COMPLETIONS")
    if index is None or count is None:
        return WHOLE
    return parse_shard(f"{index}/{count}")
