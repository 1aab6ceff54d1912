"""Record files, one document per record: JSON Lines and CSV. A configurable field holds the text (and the title
and id); the other fields become metadata. A bad record is reported as `path:line` and the rest go on.

Record files are streamed: a line (a CSV field) longer than the record limit is reported and skipped without
being parsed, so memory stays bounded by one record whatever the file's size.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO

from ingest.formats.base import BadDocument, Loaded, LoadFailure, LoadOptions
from ingest.formats.text import detect_encoding
from ingest.sources.base import SourceFile
from rag.access.document_access import DocumentAccess, split_names
from rag.domain import Document

_SAMPLE_BYTES = 1 << 16  # the encoding of a record file is detected from its start
# A record's own access (ingest/access_rules.py): who may see it, never stored as metadata.
ACCESS_FIELDS = ("access_users", "access_groups", "access_services", "access_tenant_wide")


def _names(value: Any) -> list[str]:
    """Names from a JSON list, or from a CSV cell that separates them by `,` or `;`."""
    if isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            raise BadDocument("access lists hold names (strings)")
        return value
    if isinstance(value, str):
        return split_names(value, ",;")
    raise BadDocument("access users and groups are a list of names or a comma-separated string")


def _access(row: Mapping[str, Any]) -> DocumentAccess | None:
    """The record's access, when one of ACCESS_FIELDS is set (BadDocument for a malformed one)."""
    given = {k: row[k] for k in ACCESS_FIELDS if row.get(k) not in (None, "")}
    if not given:
        return None
    wide = given.get("access_tenant_wide", False)
    if isinstance(wide, str) and wide.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        wide = wide.strip().lower() in ("true", "1", "yes")
    if not isinstance(wide, bool):
        raise BadDocument("'access_tenant_wide' is true or false")
    users, groups = _names(given.get("access_users", [])), _names(given.get("access_groups", []))
    services = _names(given.get("access_services", []))
    try:
        return DocumentAccess.of(users=users, groups=groups, services=services, tenant_wide=wide)
    except ValueError as exc:
        raise BadDocument(str(exc)) from None


def _record(source: SourceFile, line: int, row: Mapping[str, Any], options: LoadOptions, fmt: str) -> Loaded:
    where = f"{source.location}:{line}"
    text = row.get(options.text_field)
    if not isinstance(text, str) or not text.strip():
        return LoadFailure(where, f"no text in field '{options.text_field}'", file=source.location)
    key = row.get(options.id_field)
    doc_id = f"{source.doc_id}#{key if key not in (None, '') else line}"
    title = row.get(options.title_field)
    try:
        access = _access(row)
    except BadDocument as exc:
        return LoadFailure(where, str(exc), file=source.location)
    skip = {options.text_field, options.title_field, options.id_field, *ACCESS_FIELDS}
    metadata = {k: v for k, v in row.items() if k not in skip and v not in (None, "")}
    metadata["format"] = fmt
    return Document(doc_id, text, str(title or ""), f"{source.location}#{key or line}", metadata, access=access)


def too_large(source: SourceFile, line: int, options: LoadOptions) -> LoadFailure:
    limit = options.max_record_bytes
    message = f"record larger than {limit:,} bytes (RAG_INGEST_MAX_RECORD_MB): skipped"
    return LoadFailure(f"{source.location}:{line}", message, file=source.location)


def bounded_lines(f: BinaryIO, limit: int) -> Iterator[tuple[int, bytes | None]]:
    """(line number, the line's bytes) for every line of `f`; None for a line longer than `limit` bytes, which is
    read past in pieces and never held whole."""
    number = 0
    while raw := f.readline(limit + 1):
        number += 1
        if len(raw) > limit and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):
                raw = f.readline(1 << 20)
            yield number, None
        else:
            yield number, raw


def _encoding(f: BinaryIO) -> str:
    sample = f.read(_SAMPLE_BYTES)
    f.seek(0)
    return detect_encoding(sample, partial=len(sample) == _SAMPLE_BYTES)


def load_jsonl(source: SourceFile, options: LoadOptions) -> Iterator[Loaded]:
    with source.path.open("rb") as f:
        encoding = _encoding(f)
        for line, raw in bounded_lines(f, options.max_record_bytes):
            where = f"{source.location}:{line}"
            if raw is None:
                yield too_large(source, line, options)
                continue
            if not raw.strip():
                continue
            try:
                row = json.loads(raw.decode(encoding).lstrip("\ufeff"))
            except UnicodeDecodeError:
                yield LoadFailure(where, f"not valid {encoding} text", file=source.location)
                continue
            except json.JSONDecodeError as exc:
                yield LoadFailure(where, f"not JSON: {exc.msg}", file=source.location)
                continue
            if not isinstance(row, dict):
                yield LoadFailure(where, "a record must be a JSON object", file=source.location)
                continue
            yield _record(source, line, row, options, "jsonl")


def load_csv(source: SourceFile, options: LoadOptions) -> Iterator[Loaded]:
    with source.path.open("rb") as f:
        encoding = _encoding(f)
        text = io.TextIOWrapper(f, encoding=encoding, newline="")
        # The csv module's field limit is process-wide; ours is the record limit (the default, 128 KiB, is lower).
        csv.field_size_limit(max(csv.field_size_limit(), options.max_record_bytes))
        reader = csv.DictReader(text)
        try:
            fieldnames = reader.fieldnames
        except csv.Error as exc:
            raise BadDocument(f"not CSV: {exc}") from exc
        if fieldnames is None or options.text_field not in fieldnames:
            yield LoadFailure(source.location, f"CSV has no '{options.text_field}' column (set --text-field)")
            return
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:  # a field over the limit: report it and read on from the next line
                if "field larger" in str(exc):
                    yield too_large(source, start, options)
                    continue
                raise BadDocument(f"not CSV at line {start}: {exc}") from exc
            if (
                sum(len(k or "") + len(v or "") for k, v in row.items() if isinstance(v, str))
                > options.max_record_bytes
            ):
                yield too_large(source, start, options)
                continue
            yield _record(source, reader.line_num, row, options, "csv")
