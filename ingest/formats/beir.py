"""BEIR `corpus.jsonl`: one `{"_id", "title", "text", "metadata"}` object per line; ids are kept as they are, so
evaluation qrels refer to them."""

from __future__ import annotations

import json
from collections.abc import Iterator

from ingest.formats.base import Loaded, LoadFailure, LoadOptions
from ingest.formats.record_files import bounded_lines, too_large
from ingest.sources.base import SourceFile
from rag.domain import Document


def load_beir_corpus(source: SourceFile, options: LoadOptions) -> Iterator[Loaded]:
    path = source.location
    with source.path.open("rb") as f:
        for lineno, raw in bounded_lines(f, options.max_record_bytes):
            if raw is None:
                yield too_large(source, lineno, options)
                continue
            if not raw.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                row = json.loads(raw.decode("utf-8-sig"))
                doc_id, text = str(row["_id"]), str(row.get("text") or "")
            except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
                yield LoadFailure(where, f"not a BEIR corpus record: {exc}", file=path)
                continue
            title = str(row.get("title") or "")
            if not (text.strip() or title.strip()):
                yield LoadFailure(where, f"document '{doc_id}' is empty", file=path)
                continue
            metadata = row.get("metadata") if isinstance(row.get("metadata"), dict) else {}
            yield Document(doc_id=doc_id, text=text, title=title, source=f"{path}#{doc_id}", metadata=metadata)
