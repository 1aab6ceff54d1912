"""Load the files a source found or fetched (ingest/sources/), each by its format's loader (picked by suffix).

Formats: plain text (any common encoding), Markdown, HTML, PDF (tables, OCR of scanned pages), DOCX, PPTX, XLSX,
images through OCR (PNG, JPEG, TIFF), JSON Lines and CSV records, BEIR corpora (docs/ingestion.md: what each gives).
A file that cannot be loaded becomes a `LoadFailure` (path and a one-line reason) and the rest go on; nothing a
parser raises stops the run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import PurePosixPath

from ingest.formats.base import BadDocument, Loaded, Loader, LoadFailure, LoadOptions
from ingest.formats.beir import load_beir_corpus
from ingest.formats.docx import load_docx
from ingest.formats.html import load_html
from ingest.formats.image import load_image
from ingest.formats.markdown import load_markdown
from ingest.formats.pdf import load_pdf
from ingest.formats.pptx import load_pptx
from ingest.formats.record_files import load_csv, load_jsonl
from ingest.formats.text import load_text
from ingest.formats.xlsx import load_xlsx
from ingest.sources.base import BEIR_CORPUS_NAME, SourceFile
from rag.domain import Document

LOADERS: dict[str, Loader] = {
    ".txt": load_text,
    ".text": load_text,
    ".md": load_markdown,
    ".markdown": load_markdown,
    ".html": load_html,
    ".htm": load_html,
    ".pdf": load_pdf,
    ".docx": load_docx,
    ".jsonl": load_jsonl,
    ".csv": load_csv,
    ".pptx": load_pptx,
    ".xlsx": load_xlsx,
    ".png": load_image,
    ".jpg": load_image,
    ".jpeg": load_image,
    ".tif": load_image,
    ".tiff": load_image,
}
SUFFIXES = frozenset(LOADERS)
_RECORD_FILES = frozenset({".jsonl", ".csv"})


def holds_many(source: SourceFile) -> bool:
    """A file of records (many documents, ids known only once read), as opposed to one document per file."""
    return holds_many_named(source.path.name)


def holds_many_named(name: str) -> bool:
    """`holds_many` by a file's (or an object's) name alone."""
    return name == BEIR_CORPUS_NAME or PurePosixPath(name).suffix.lower() in _RECORD_FILES


def estimated_documents(source: SourceFile) -> int:
    if source.refused or not holds_many(source):
        return 1
    with source.path.open("rb") as f:
        return max(0, sum(1 for line in f if line.strip()) - (1 if source.suffix == ".csv" else 0))


def _loader(source: SourceFile) -> Loader:
    if source.is_beir_corpus:
        return load_beir_corpus
    loader = LOADERS.get(source.suffix)
    if loader is None:
        raise BadDocument(f"unsupported file type '{source.suffix or source.path.name}'")
    return loader


def _within_limits(document: Document, options: LoadOptions, source: SourceFile) -> Loaded:
    """The document, or its failure when its text is longer than a document may be (whatever its format)."""
    try:
        options.check_text(document.text)
    except BadDocument as exc:
        return LoadFailure(document.source, str(exc), file=source.location)
    return document


def load(
    sources: Sequence[SourceFile],
    options: LoadOptions | None = None,
    *,
    wanted: Callable[[str], bool] = lambda doc_id: True,
) -> Iterator[Loaded]:
    """Every document under `sources` whose id is `wanted`, or a failure for what could not be loaded, in order.
    A one-document file not wanted is not even read (its id is its path)."""
    options = options or LoadOptions()
    for source in sources:
        if not holds_many(source) and not wanted(source.doc_id):
            continue
        if source.refused:
            if wanted(source.doc_id):  # one shard reports it, not all of them
                yield LoadFailure(source.location, source.refused)
            continue
        try:
            loader = _loader(source)
            if not holds_many(source) and source.path.stat().st_size > options.max_file_bytes:
                raise BadDocument(f"file larger than the {options.max_file_bytes:,}-byte limit")
            for item in loader(source, options):
                if isinstance(item, LoadFailure):
                    yield item
                elif wanted(item.doc_id):
                    yield _within_limits(item, options, source)
        except BadDocument as exc:
            yield LoadFailure(source.location, str(exc))
        except OSError as exc:
            yield LoadFailure(source.location, f"cannot read: {exc.strerror or exc}")
        except Exception as exc:  # a parser's own error on a malformed file: report it, go on
            yield LoadFailure(source.location, f"cannot parse: {type(exc).__name__}: {exc}")
