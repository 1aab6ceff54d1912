"""Local paths as a source: directories searched recursively, include/exclude globs, stable order and ids.

Nothing outside the paths given on the command line is ever read: a symbolic link under them is refused unless
`follow_links` is set and it resolves to a regular file inside those paths. Links, FIFOs, sockets and devices that
are not taken are refused with a reason (`SourceFile.refused`), so the run reports them instead of skipping them.

A file's change token is its size and modification time: an unchanged file is not read again. A file modified within
the file system's timestamp granularity of the listing gets no token (it is read next time too), as git treats a
"racily clean" entry.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ingest.sources.base import (
    BEIR_CORPUS_NAME,
    Fetched,
    FetchResult,
    KnownTokens,
    Listed,
    SourceFile,
    UsageError,
    selected,
)

# A file whose mtime is this close to the listing may still change within the same timestamp tick.
_RACY_NS = 2_000_000_000


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
    link_roots: Sequence[Path] = (),
) -> list[SourceFile]:
    """Files to ingest, in a stable order. Directories are searched recursively for files with a supported suffix
    (or named corpus.jsonl); a file named directly is taken whatever its suffix, so its loader can say what is wrong.
    The paths given are trusted as given (resolved); what lies under them and is not a regular file inside them is
    returned refused (see the module's docstring).
    """
    roots = [given.resolve() for given in paths]
    inside = [*roots, *(r.resolve() for r in link_roots)]  # where a followed link may lead
    found: list[SourceFile] = []
    for given, root in zip(paths, roots, strict=True):
        if root.is_dir():
            entries: list[SourceFile] = []
            for path in _walk(root):
                rel = path.relative_to(root).as_posix()
                if (path.suffix.lower() in suffixes or path.name == BEIR_CORPUS_NAME or path.is_dir()) and selected(
                    rel, include, exclude
                ):
                    entries.append(SourceFile(path, rel, _refusal(path, inside, follow_links)))
            found.extend(sorted(entries, key=lambda s: s.doc_id))
        elif root.exists():
            if selected(root.name, include, exclude):
                refused = "" if root.is_file() else f"{_special(root.stat().st_mode)}, not a regular file: skipped"
                found.append(SourceFile(root, root.name, refused))
        else:
            raise UsageError(f"no such file or directory: {given}")
    return found


def _token(path: Path, listed_at_ns: int) -> str:
    """Size and modification time, or "" for a file modified too close to the listing to be trusted."""
    try:
        st = os.stat(path)
    except OSError:
        return ""
    if st.st_mtime_ns >= listed_at_ns - _RACY_NS:
        return ""
    return f"{st.st_size}:{st.st_mtime_ns}"


class LocalSource:
    """One path given on the command line: a file, or a directory searched recursively."""

    fetch_workers = 1
    follows_links = False

    def __init__(
        self,
        path: Path,
        suffixes: Collection[str],
        *,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        follow_links: bool = False,
        link_roots: Sequence[Path] = (),
        holds_many: Callable[[SourceFile], bool] = lambda f: False,
        estimate: Callable[[SourceFile], int] = lambda f: 1,
    ) -> None:
        """`holds_many`: files of many documents (records). `estimate`: the documents a file holds, for progress.
        UsageError when the path does not exist."""
        self._files = {
            f.doc_id: f
            for f in discover(
                [path], suffixes, include=include, exclude=exclude, follow_links=follow_links, link_roots=link_roots
            )
        }
        self._scope = SourceScope.of([path])
        self._holds_many, self._estimate = holds_many, estimate

    @property
    def uri(self) -> str:
        return self._scope.roots[0]

    def covers(self, stored_source: str) -> bool:
        return self._scope.covers(stored_source)

    def listing(self, wanted: Callable[[str], bool]) -> Iterator[Listed]:
        now = time.time_ns()
        for file in self._files.values():
            many = self._holds_many(file)
            if not many and not wanted(file.doc_id):
                continue
            token = "" if file.refused else _token(file.path, now)
            yield Listed(file.doc_id, file.location, token, documents=self._estimate(file) if many else 1, many=many)

    def fetch(self, listed: Listed, known: KnownTokens) -> FetchResult:
        return Fetched(self._files[listed.doc_id], listed.token)

    def close(self) -> None:
        pass
