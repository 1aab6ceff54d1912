"""What each eval collection holds, recorded when an evaluation opens it: the dataset folders it was opened for and
the settings its vectors depend on. A small JSON file per collection under
`<cache_dir>/eval/records/<store>/` (one folder per store location, so the embedded cache and a Qdrant server
keep separate records), read by `rag eval cache list|prune` (evals/eval_cache.py). A record is a description,
never needed to evaluate: one that cannot be written or read is logged and skipped."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evals.results import IndexSettings
from rag.settings import Settings

log = logging.getLogger(__name__)
KEEP_DATASETS = 10  # folders remembered per collection, the latest last


@dataclass(frozen=True)
class CacheRecord:
    collection: str
    store: str  # the store's location (a path or a URL)
    datasets: tuple[str, ...]  # absolute dataset folders it was opened for, the latest last
    index: IndexSettings
    built_at: str  # ISO 8601, UTC: first recorded opening
    used_at: str  # the latest

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> CacheRecord:
        return cls(
            collection=str(raw["collection"]),
            store=str(raw["store"]),
            datasets=tuple(str(d) for d in raw["datasets"]),
            index=IndexSettings(**raw["index"]),
            built_at=str(raw["built_at"]),
            used_at=str(raw["used_at"]),
        )


def records_dir(settings: Settings, store_location: str) -> Path:
    token = hashlib.sha256(store_location.encode()).hexdigest()[:12]
    return settings.embedding.cache_dir / "eval" / "records" / token


def _path(settings: Settings, store_location: str, collection: str) -> Path:
    return records_dir(settings, store_location) / f"{collection}.json"


def _read(path: Path) -> CacheRecord | None:
    try:
        return CacheRecord.from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("eval cache record %s unreadable, ignored: %s", path, exc)
        return None


def record_use(
    settings: Settings, store_location: str, collection: str, dataset: Path, *, now: datetime | None = None
) -> None:
    """Adds `dataset` to the collection's record (creating it) and stamps the time."""
    path = _path(settings, store_location, collection)
    stamp = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
    folder = str(dataset.resolve())
    old = _read(path)
    if old is None:
        record = CacheRecord(collection, store_location, (folder,), IndexSettings.of(settings), stamp, stamp)
    else:
        kept = tuple(d for d in old.datasets if d != folder)[-(KEEP_DATASETS - 1) :]
        record = replace(old, datasets=(*kept, folder), used_at=stamp)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        staging.write_text(json.dumps(record.to_json(), indent=2) + "\n")
        staging.replace(path)
    except OSError as exc:
        log.warning("eval cache record %s not written: %s", path, exc)


def read_records(settings: Settings, store_location: str) -> dict[str, CacheRecord]:
    """collection -> its record, for the collections of this store that have one."""
    found = (_read(p) for p in sorted(records_dir(settings, store_location).glob("*.json")))
    return {r.collection: r for r in found if r is not None}


def forget(settings: Settings, store_location: str, collections: list[str]) -> None:
    """Removes the records of these collections (those that have one)."""
    for name in collections:
        _path(settings, store_location, name).unlink(missing_ok=True)
