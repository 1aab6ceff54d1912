"""The evaluation cache, seen and pruned: the `eval-<key>` collections of the eval store (evals/eval_index.py),
their points, what their records say they hold (evals/eval_manifest.py), and whether the current settings would
still use them.

A collection is *current* when a dataset folder, evaluated with the current settings, maps to it: a folder an
earlier evaluation recorded for any eval collection, or one under the evaluation data folder (`--data` or
RAG_EVAL_DATA_DIR). Anything else is *stale*: built from a corpus that has changed since, or with other embedding
or chunking settings, or with no record at all and matching no known dataset.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.data_dir import datasets_in, resolve_data_dir
from evals.eval_index import collection_key, eval_settings
from evals.eval_manifest import CacheRecord, forget, read_records
from rag.components import build_store
from rag.errors import NotFound
from rag.settings import EvalSettings, Settings
from rag.store.base import VectorStore

PREFIX = "eval-"
# What evaluations name their collections: `eval-<key>`, and, before collections were keyed by content alone,
# `eval-<dataset>-<key>@eval`. Nothing else in the store (a user's `eval-notes` on a shared Qdrant server) is ours.
_OURS = re.compile(r"eval-(?:[0-9a-f]{12}|.+-[0-9a-f]{12}@eval)")


@dataclass(frozen=True)
class CacheEntry:
    name: str
    points: int
    record: CacheRecord | None
    current_for: tuple[Path, ...]  # dataset folders that, with the current settings, evaluate against it

    @property
    def current(self) -> bool:
        return bool(self.current_for)

    @property
    def datasets(self) -> tuple[str, ...]:
        """Its dataset folders: those it is current for, else those recorded."""
        if self.current_for:
            return tuple(str(p) for p in self.current_for)
        return self.record.datasets if self.record else ()

    def to_json(self) -> dict[str, Any]:
        record = self.record
        return {
            "name": self.name,
            "points": self.points,
            "current": self.current,
            "datasets": list(self.datasets),
            "settings": record.index.describe() if record else None,
            "built_at": record.built_at if record else None,
            "used_at": record.used_at if record else None,
        }


@dataclass(frozen=True)
class CacheListing:
    store: str
    entries: tuple[CacheEntry, ...]

    @property
    def points(self) -> int:
        return sum(e.points for e in self.entries)

    def to_json(self) -> dict[str, Any]:
        return {"store": self.store, "collections": [e.to_json() for e in self.entries]}


@dataclass(frozen=True)
class PruneResult:
    store: str
    removed: tuple[CacheEntry, ...]  # or, on a dry run, what would be
    kept: tuple[CacheEntry, ...]
    dry_run: bool

    @property
    def points_removed(self) -> int:
        return sum(e.points for e in self.removed)

    def to_json(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "dry_run": self.dry_run,
            "removed": [e.to_json() for e in self.removed],
            "points_removed": self.points_removed,
            "kept": [e.name for e in self.kept],
        }


def _data_dir(given: Path | None, settings: EvalSettings) -> Path | None:
    if given is None and settings.data_dir is None:
        return None
    return resolve_data_dir(given, settings)


def _entries(store: VectorStore, settings: Settings, data_dir: Path | None) -> tuple[CacheEntry, ...]:
    records = read_records(settings, store.location)
    folders = {Path(d) for r in records.values() for d in r.datasets}
    if data_dir is not None:
        folders.update(datasets_in(data_dir))
    current: dict[str, list[Path]] = {}
    for folder in sorted(folders):
        if (folder / "corpus.jsonl").is_file():
            current.setdefault(f"{PREFIX}{collection_key(folder, settings)}", []).append(folder)
    names = [n for n in store.list_collections() if _OURS.fullmatch(n)]
    return tuple(CacheEntry(name, store.count(name), records.get(name), tuple(current.get(name, []))) for name in names)


def list_cache(settings: Settings, *, data_dir: Path | None = None) -> CacheListing:
    """Every eval collection of the eval store. `data_dir` (default: RAG_EVAL_DATA_DIR, if set) adds its datasets
    to those that keep a collection current; `DatasetError` when it is given but missing."""
    root = _data_dir(data_dir, settings.evals)
    store = build_store(eval_settings(settings).store)
    try:
        return CacheListing(store.location, _entries(store, settings, root))
    finally:
        store.close()


def prune_cache(
    settings: Settings,
    *,
    names: Sequence[str] = (),
    everything: bool = False,
    stale: bool = False,
    dry_run: bool = False,
    data_dir: Path | None = None,
) -> PruneResult:
    """Removes the named eval collections, or all of them, or the stale ones (exactly one of the three), and their
    records; records left without a collection go too. `NotFound` (nothing removed) when a name is not an eval
    collection of the store; `dry_run` removes nothing and says what would go."""
    if (bool(names), everything, stale).count(True) != 1:
        raise ValueError("prune needs exactly one of: names, everything, stale")
    root = _data_dir(data_dir, settings.evals)
    store = build_store(eval_settings(settings).store)
    try:
        entries = _entries(store, settings, root)
        by_name = {e.name: e for e in entries}
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise NotFound(f"no eval collection '{unknown[0]}' in {store.location}")
        chosen = set(names) if names else {e.name for e in entries if everything or not e.current}
        removed = tuple(e for e in entries if e.name in chosen)
        if not dry_run:
            for entry in removed:
                with suppress(NotFound):  # gone meanwhile: what was asked for
                    store.drop_collection(entry.name)
            left = {e.name for e in entries} - chosen
            orphans = set(read_records(settings, store.location)) - left
            forget(settings, store.location, sorted(orphans))
        return PruneResult(store.location, removed, tuple(e for e in entries if e.name not in chosen), dry_run)
    finally:
        store.close()
