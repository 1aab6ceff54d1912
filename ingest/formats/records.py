"""Record files, one document per record: JSON Lines and CSV. A configurable field holds the text (and the title
and id); the other fields become metadata. A bad record is reported as `path:line` and the rest go on."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from typing import Any

from ingest.formats.base import Loaded, LoadFailure, LoadOptions
from ingest.formats.text import decode_text
from ingest.sources import SourceFile
from rag.domain import Document


def _record(source: SourceFile, line: int, row: Mapping[str, Any], options: LoadOptions, fmt: str) -> Loaded:
    where = f"{source.path}:{line}"
    text = row.get(options.text_field)
    if not isinstance(text, str) or not text.strip():
        return LoadFailure(where, f"no text in field '{options.text_field}'", file=str(source.path))
    key = row.get(options.id_field)
    doc_id = f"{source.doc_id}#{key if key not in (None, '') else line}"
    title = row.get(options.title_field)
    skip = {options.text_field, options.title_field, options.id_field}
    metadata = {k: v for k, v in row.items() if k not in skip and v not in (None, "")}
    metadata["format"] = fmt
    return Document(doc_id, text, str(title or ""), f"{source.path}#{key or line}", metadata)


def load_jsonl(source: SourceFile, options: LoadOptions) -> Iterator[Loaded]:
    text = decode_text(source.path.read_bytes())
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as exc:
            yield LoadFailure(f"{source.path}:{line}", f"not JSON: {exc.msg}", file=str(source.path))
            continue
        if not isinstance(row, dict):
            yield LoadFailure(f"{source.path}:{line}", "a record must be a JSON object", file=str(source.path))
            continue
        yield _record(source, line, row, options, "jsonl")


def load_csv(source: SourceFile, options: LoadOptions) -> Iterator[Loaded]:
    reader = csv.DictReader(io.StringIO(decode_text(source.path.read_bytes()), newline=""))
    if reader.fieldnames is None or options.text_field not in reader.fieldnames:
        yield LoadFailure(str(source.path), f"CSV has no '{options.text_field}' column (set --text-field)")
        return
    for row in reader:
        yield _record(source, reader.line_num, row, options, "csv")
