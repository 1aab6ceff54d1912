"""What every format loader shares: the failure record, the options, the loader signature."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ingest.sources import SourceFile
from rag.domain import Document


@dataclass(frozen=True, slots=True)
class LoadFailure:
    """A file (or one record of it, `path:line`) that could not be loaded, and why, in one line. `file` is the
    file itself (the path when empty), so a failed record protects its file's stored documents from pruning."""

    path: str
    error: str
    file: str = ""

    def __post_init__(self) -> None:
        if not self.file:
            object.__setattr__(self, "file", self.path)


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """Record files (JSONL, CSV): which fields hold the text, the title and the id; the rest become metadata."""

    text_field: str = "text"
    title_field: str = "title"
    id_field: str = "id"
    max_file_bytes: int = 50_000_000


class BadDocument(ValueError):
    """Raised by a loader for a file that is not a usable document (the message is the one line reported)."""


Loaded = Document | LoadFailure
Loader = Callable[[SourceFile, LoadOptions], Iterable[Loaded]]


def title_from_name(source: SourceFile) -> str:
    return source.path.stem.replace("_", " ").replace("-", " ")
