"""Find the files a user names: directories searched recursively, include/exclude globs, stable order and ids.

Nothing outside the paths given on the command line is ever read: a symbolic link under them is refused unless
`follow_links` is set and it resolves to a regular file inside those paths. Links, FIFOs, sockets and devices that
are not taken are refused with a reason (`SourceFile.refused`), so the run reports them instead of skipping them.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

BEIR_CORPUS_NAME = "corpus.jsonl"


class UsageError(Exception):
    """A path that does not exist or cannot be ingested at all: the command line is wrong."""


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file to load; `doc_id` is its path relative to the root it was found under. A `refused` file is not read:
    the reason is reported as its failure."""

    path: Path
    doc_id: str
    refused: str = ""

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


def glob_matches(rel: str, pattern: str) -> bool:
    """A glob matches the path relative to the root (`docs/*.md`, `**/*.pdf`; `*` crosses folders) or the file name
    alone (`*.pdf`)."""
    name = rel.rsplit("/", 1)[-1]
    return fnmatch.fnmatchcase(rel, pattern) or fnmatch.fnmatchcase(name, pattern)


def _selected(rel: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    if include and not any(glob_matches(rel, p) for p in include):
        return False
    return not any(glob_matches(rel, p) for p in exclude)


def _special(mode: int) -> str:
    kinds = (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISDIR, "a directory"),
    )
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def _refusal(path: Path, roots: Sequence[Path], follow_links: bool) -> str:
    """Why `path` (found under a root) must not be read, or "" when it is a regular file to take."""
    try:
        mode = os.lstat(path).st_mode
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    if stat.S_ISREG(mode):
        return ""
    if not stat.S_ISLNK(mode):
        return f"{_special(mode)}, not a regular file: skipped"
    target = path.resolve()
    if not target.exists():
        return "dangling symbolic link: skipped"
    if not _inside(target, roots):
        return "symbolic link to a path outside the ingested paths: refused"
    if not follow_links:
        return "symbolic link: not followed (--follow-links takes links that stay inside the ingested paths)"
    if target.is_dir():
        return "symbolic link to a directory: not followed (its files are ingested by their own path)"
    if not target.is_file():
        return f"symbolic link to {_special(target.stat().st_mode)}, not a regular file: skipped"
    return ""


def _walk(root: Path) -> Iterator[Path]:
    """Every entry under `root` but directories, and links to directories, without following any link."""
    for folder, dirs, files in os.walk(root, followlinks=False):
        base = Path(folder)
        yield from (base / d for d in dirs if (base / d).is_symlink())
        yield from (base / f for f in files)


def discover(
    paths: Sequence[Path],
    suffixes: Collection[str],
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    follow_links: bool = False,
) -> list[SourceFile]:
    """Files to ingest, in a stable order. Directories are searched recursively for files with a supported suffix
    (or named corpus.jsonl); a file named directly is taken whatever its suffix, so its loader can say what is wrong.
    The paths given are trusted as given (resolved); what lies under them and is not a regular file inside them is
    returned refused (see the module's docstring).
    """
    roots = [given.resolve() for given in paths]
    found: list[SourceFile] = []
    for given, root in zip(paths, roots, strict=True):
        if root.is_dir():
            entries: list[SourceFile] = []
            for path in _walk(root):
                rel = path.relative_to(root).as_posix()
                if (path.suffix.lower() in suffixes or path.name == BEIR_CORPUS_NAME or path.is_dir()) and _selected(
                    rel, include, exclude
                ):
                    entries.append(SourceFile(path, rel, _refusal(path, roots, follow_links)))
            found.extend(sorted(entries, key=lambda s: s.doc_id))
        elif root.exists():
            if _selected(root.name, include, exclude):
                refused = "" if root.is_file() else f"{_special(root.stat().st_mode)}, not a regular file: skipped"
                found.append(SourceFile(root, root.name, refused))
        else:
            raise UsageError(f"no such file or directory: {given}")
    return found
