"""Find the files a user names: directories searched recursively, include/exclude globs, stable order and ids."""

from __future__ import annotations

import fnmatch
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

BEIR_CORPUS_NAME = "corpus.jsonl"


class UsageError(Exception):
    """A path that does not exist or cannot be ingested at all: the command line is wrong."""


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file to load; `doc_id` is its path relative to the root it was found under."""

    path: Path
    doc_id: str

    @property
    def is_beir_corpus(self) -> bool:
        return self.path.name == BEIR_CORPUS_NAME

    @property
    def suffix(self) -> str:
        return self.path.suffix.lower()


@dataclass(frozen=True, slots=True)
class SourceScope:
    """The paths a run was given (absolute): `--prune` only removes stored documents that came from under them."""

    roots: tuple[str, ...]

    @classmethod
    def of(cls, paths: Sequence[Path]) -> SourceScope:
        return cls(tuple(str(p.resolve()) for p in paths))

    def covers(self, source: str) -> bool:
        """Whether a stored chunk's `source` (a file path, `#record` appended for records) lies under a root."""
        path = source.split("#", 1)[0]
        return any(path == root or path.startswith(root.rstrip("/") + "/") for root in self.roots)


def _selected(rel: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    """Globs match the path relative to the root (`docs/*.md`, `**/*.pdf`) or the file name alone (`*.pdf`)."""

    def matches(pattern: str) -> bool:
        name = rel.rsplit("/", 1)[-1]
        return fnmatch.fnmatchcase(rel, pattern) or fnmatch.fnmatchcase(name, pattern)

    if include and not any(matches(p) for p in include):
        return False
    return not any(matches(p) for p in exclude)


def discover(
    paths: Sequence[Path],
    suffixes: Collection[str],
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> list[SourceFile]:
    """Files to ingest, in a stable order. Directories are searched recursively for files with a supported suffix
    (or named corpus.jsonl); a file named directly is taken whatever its suffix, so its loader can say what is wrong.
    """
    found: list[SourceFile] = []
    for given in paths:
        root = given.resolve()  # stored sources are absolute, so `--prune` knows what came from where
        if root.is_dir():
            for path in sorted(p for p in root.rglob("*") if p.is_file()):
                rel = path.relative_to(root).as_posix()
                if (path.suffix.lower() in suffixes or path.name == BEIR_CORPUS_NAME) and _selected(
                    rel, include, exclude
                ):
                    found.append(SourceFile(path, rel))
        elif root.is_file():
            if _selected(root.name, include, exclude):
                found.append(SourceFile(root, root.name))
        else:
            raise UsageError(f"no such file or directory: {given}")
    return found
