"""Zip containers (DOCX, PPTX, XLSX): what a package may inflate to, checked from its zip directory before any
parser opens it.

The check trusts the sizes the directory declares: zipfile never inflates a member past its declared size (it stops
there and fails the CRC check), and python-docx, python-pptx and openpyxl all read through zipfile, so the declared
total bounds what a parser can read, whatever the compressed bytes really hold.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from ingest.formats.base import BadDocument, LoadOptions
from ingest.sources.base import SourceFile

# An OLE compound file: what Office writes for a password-protected package, and its pre-2007 binary formats.
_OLE_MAGIC = bytes.fromhex("d0cf11e0a1b11ae1")


def container_entries(path: Path, kind: str) -> list[zipfile.ZipInfo]:
    """The package's members as its zip directory lists them; BadDocument when it is no zip: "corrupt KIND ...", or
    encrypted (an OLE file)."""
    with path.open("rb") as file:
        if file.read(len(_OLE_MAGIC)) == _OLE_MAGIC:
            raise BadDocument(f"encrypted {kind} or an old binary Office file (needs a password or conversion)")
    try:
        with zipfile.ZipFile(path) as package:
            return package.infolist()
    except (zipfile.BadZipFile, EOFError, ValueError) as exc:  # ValueError: a directory with impossible offsets
        raise BadDocument(f"corrupt {kind} (not a zip package)") from exc


def expanded_bytes(entries: list[zipfile.ZipInfo]) -> int:
    """What the members inflate to, as declared."""
    return sum(info.file_size for info in entries)


def check_container(source: SourceFile, options: LoadOptions, kind: str) -> list[zipfile.ZipInfo]:
    """The package's members, once what they declare they inflate to is within RAG_INGEST_MAX_EXPANDED_MB;
    BadDocument (one line) for a file that is no zip or would inflate past it. `kind` names the format in the
    message ("DOCX", "PPTX", "XLSX")."""
    entries = container_entries(source.path, kind)
    expanded = expanded_bytes(entries)
    if expanded > options.max_expanded_bytes:
        raise BadDocument(
            f"expands to {expanded:,} bytes, over the {options.max_expanded_bytes:,}-byte limit "
            "(RAG_INGEST_MAX_EXPANDED_MB)"
        )
    return entries
