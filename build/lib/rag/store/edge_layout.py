"""Where an embedded Qdrant Edge store keeps its files: the one place that knows the folder layout.

Under a store path (`RAG_QDRANT_PATH`), Edge keeps `edge/<collection>/`: the shard directory `shard`, a small
`collection.json` (dense dimension; its presence makes the folder a collection) and the `lock` file that the process
with the shard open holds and is named in (rag/store/lock.py). Nothing here opens a shard: no qdrant-edge import.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

_MARKER = "collection.json"
_LOCK = "lock"


@dataclass(frozen=True, slots=True)
class EdgeLayout:
    root: Path  # the folder holding one folder per collection

    @classmethod
    def under(cls, qdrant_path: Path) -> EdgeLayout:
        """The Edge store of a store path (`RAG_QDRANT_PATH`)."""
        return cls(qdrant_path / "edge")

    def collections(self) -> list[str]:
        return sorted(p.parent.name for p in self.root.glob(f"*/{_MARKER}"))

    def collection(self, name: str) -> Path:
        """The folder of everything the collection is."""
        return self.root / name

    def shard(self, name: str) -> Path:
        return self.root / name / "shard"

    def marker(self, name: str) -> Path:
        return self.root / name / _MARKER

    def lock(self, name: str) -> Path:
        return self.root / name / _LOCK

    def clear(self, name: str) -> None:
        """Remove the collection's files: the marker first (a half-removed folder is no longer a collection), the lock
        file last of all, never (whoever holds it keeps holding it)."""
        self.marker(name).unlink()
        for child in self.collection(name).iterdir():
            if child.name != _LOCK:
                shutil.rmtree(child) if child.is_dir() else child.unlink()

    def copy(self, name: str, to: EdgeLayout) -> None:
        """Copy the files of a collection that no process has open into another Edge store (which must lack it)."""
        shutil.copytree(self.collection(name), to.collection(name))
