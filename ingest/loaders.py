"""Find the documents under the paths a user names, and load them: `.txt`, `.md`, `.html`, BEIR `corpus.jsonl`.

A file that cannot be loaded becomes a `LoadFailure` (path and a one-line reason) and the rest go on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bs4 import BeautifulSoup

from rag.domain import Document

TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".html", ".htm"})
BEIR_CORPUS_NAME = "corpus.jsonl"
_BOILERPLATE_TAGS = ("script", "style", "noscript", "nav", "header", "footer", "aside", "form", "template")


@dataclass(frozen=True, slots=True)
class LoadFailure:
    path: str
    error: str


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file to load; `doc_id` is its path relative to the root it was found under."""

    path: Path
    doc_id: str

    @property
    def is_beir_corpus(self) -> bool:
        return self.path.name == BEIR_CORPUS_NAME

    def estimated_documents(self) -> int:
        if not self.is_beir_corpus:
            return 1
        with self.path.open("rb") as f:
            return sum(1 for line in f if line.strip())


class UsageError(Exception):
    """A path that does not exist or cannot be ingested at all: the command line is wrong."""


def discover(paths: Sequence[Path]) -> list[SourceFile]:
    """Files to ingest, in a stable order. Directories are searched recursively for supported files."""
    found: list[SourceFile] = []
    for root in paths:
        if root.is_dir():
            for path in sorted(p for p in root.rglob("*") if p.is_file()):
                if path.suffix.lower() in TEXT_SUFFIXES or path.name == BEIR_CORPUS_NAME:
                    found.append(SourceFile(path, path.relative_to(root).as_posix()))
        elif root.is_file():
            found.append(SourceFile(root, root.name))
        else:
            raise UsageError(f"no such file or directory: {root}")
    return found


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise ValueError("binary content (NUL bytes), not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text (byte {exc.start})") from exc


def _markdown_title(text: str) -> str | None:
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return None


def _html_document(raw: str) -> tuple[str, str | None]:
    soup = BeautifulSoup(raw, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else None
    for tag in soup(_BOILERPLATE_TAGS):
        tag.decompose()
    body = soup.find("main") or soup.find("article") or soup.body or soup
    lines = (line.strip() for line in body.get_text("\n").splitlines())
    return "\n".join(line for line in lines if line), title


def load_text_file(source: SourceFile) -> Document:
    path = source.path
    suffix = path.suffix.lower()
    if suffix not in TEXT_SUFFIXES:
        raise ValueError(f"unsupported file type '{suffix or path.name}'")
    raw = _read_text(path)
    title: str | None = None
    if suffix in {".html", ".htm"}:
        text, title = _html_document(raw)
    else:
        text = raw
        if suffix in {".md", ".markdown"}:
            title = _markdown_title(text)
    if not text.strip():
        raise ValueError("empty document")
    return Document(
        doc_id=source.doc_id,
        text=text,
        title=title or path.stem.replace("_", " ").replace("-", " "),
        source=str(path),
        metadata={"format": suffix.lstrip(".")},
    )


def load_beir_corpus(path: Path) -> Iterator[Document | LoadFailure]:
    """BEIR `corpus.jsonl`: one `{"_id", "title", "text", "metadata"}` object per line."""
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                row = json.loads(line)
                doc_id, text = str(row["_id"]), str(row.get("text") or "")
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                yield LoadFailure(where, f"not a BEIR corpus record: {exc}")
                continue
            title = str(row.get("title") or "")
            if not (text.strip() or title.strip()):
                yield LoadFailure(where, f"document '{doc_id}' is empty")
                continue
            metadata = row.get("metadata") if isinstance(row.get("metadata"), dict) else {}
            yield Document(doc_id=doc_id, text=text, title=title, source=f"{path}#{doc_id}", metadata=metadata)


def load(sources: Sequence[SourceFile]) -> Iterator[Document | LoadFailure]:
    """Every document under `sources`, or a failure for what could not be loaded, in order."""
    for source in sources:
        try:
            if source.is_beir_corpus:
                yield from load_beir_corpus(source.path)
            else:
                yield load_text_file(source)
        except (OSError, ValueError) as exc:
            yield LoadFailure(str(source.path), str(exc))
