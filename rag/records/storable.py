"""Text as both records databases store it alike. PostgreSQL's text cannot hold NUL (U+0000), which SQLite keeps: a
question, an answer, a source's text or an id holding one would fail its whole write on PostgreSQL, and a lookup
by such an id would fail the request. So every string bound to a records column, written or compared with, has
its NULs replaced by U+FFFD (the replacement character) on both databases: a value reads back the same from
either, a lookup finds what a write with the same value stored, and `x\\0` never finds `x`.

The tables (tables.py) declare their text and JSON columns with these types, so no write or query can skip it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, String, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

NUL, REPLACEMENT = "\x00", "\ufffd"


def storable_text(value: str) -> str:
    return value.replace(NUL, REPLACEMENT) if NUL in value else value


def storable(value: Any) -> Any:
    """`value` with NUL replaced in every string, those inside JSON lists and objects (their keys too) included."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, list | tuple):
        return [storable(v) for v in value]
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    return value


class StorableString(TypeDecorator[str]):
    """VARCHAR(n) holding no NUL."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return storable_text(value) if value is not None else None


class StorableText(TypeDecorator[str]):
    """TEXT holding no NUL."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return storable_text(value) if value is not None else None


class StorableJSON(TypeDecorator[Any]):
    """JSON holding no NUL in its strings (PostgreSQL's jsonb, too, refuses `\\u0000`)."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return storable(value)
