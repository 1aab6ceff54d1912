"""Engine-neutral filter conditions: the reader's tenant and access always, exact matches, user filters. Each store
translates them (`qdrant_filter`). This is the one place a read of the store is narrowed to what its reader may see."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from rag.access.document_access import ACCESS_FIELD, Reader
from rag.errors import InvalidInput
from rag.store.base import TOP_LEVEL_FIELDS, FilterValue, PayloadFilter

# A filter key: ASCII letters, digits, `_` and `-`, dot-separated for nesting (what Qdrant accepts as a JSON path).
# Used with `fullmatch`: `$` with `match` would also pass a key ending in a newline.
_KEY = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")

# Qdrant stores and matches integers as int64: a value outside this range can match nothing (and its client fails).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# A condition: payload key -> one value, or a list of values (any of them matches).
Condition = tuple[str, str | int | bool | list[str] | list[int]]
F = TypeVar("F", covariant=True)


@dataclass(frozen=True, slots=True)
class Conditions:
    """All of `must`, none of `must_not`, and, when `should` or `should_be_empty` name any, at least one of them
    (a condition, or a field a point does not hold)."""

    must: tuple[Condition, ...]
    must_not: tuple[Condition, ...] = ()
    should: tuple[Condition, ...] = ()
    should_be_empty: tuple[str, ...] = ()


# Payload fields a caller's filter may not name: the tenant and the access field are the platform's to set.
RESERVED_KEYS = frozenset({"tenant", ACCESS_FIELD})


def visible_to(reader: Reader) -> tuple[tuple[Condition, ...], tuple[str, ...]]:
    """The `should` of a reader that may not see everything: documents whose access holds one of its tokens
    (tenant-wide, its subject, one of its groups, and `default` where documents without access are visible to it),
    and there also those written before access existed (no `access` field)."""
    return ((ACCESS_FIELD, reader.tokens()),), ((ACCESS_FIELD,) if reader.default_visible else ())


def _in_int64(value: object) -> bool:
    return not isinstance(value, int) or INT64_MIN <= value <= INT64_MAX


def _out_of_range(key: str) -> InvalidInput:
    return InvalidInput(f"filter '{key}': integers must lie within 64 bits (-2**63 to 2**63-1)", param="filter")


def _checked(key: str, value: FilterValue | object) -> Condition:
    if isinstance(value, list):
        if not value or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in value):
            raise InvalidInput(f"filter '{key}': a list must hold strings or integers", param="filter")
        if not all(_in_int64(v) for v in value):
            raise _out_of_range(key)
        return key, value
    if isinstance(value, str | int | bool):
        if not _in_int64(value):
            raise _out_of_range(key)
        return key, value
    raise InvalidInput(f"filter '{key}': expected a string, integer, boolean or list", param="filter")


def conditions(reader: Reader, filters: PayloadFilter | None = None, **exact: str | None) -> Conditions:
    """The reader's tenant always, and what it may see of it; exact matches (None: no condition); user filters (keys
    outside the chunk fields mean `metadata.KEY`), which narrow and never widen."""
    must: list[Condition] = [("tenant", reader.tenant), *((k, v) for k, v in exact.items() if v is not None)]
    for key, value in (filters or {}).items():
        if not key or key.split(".", 1)[0] in RESERVED_KEYS:
            raise InvalidInput(
                "filter keys must be non-empty and may not name the tenant or access fields", param="filter"
            )
        if len(key) > 128 or not _KEY.fullmatch(key):
            raise InvalidInput(
                "filter keys are letters, digits, '_' and '-', dot-separated for nested fields", param="filter"
            )
        field = key if key in TOP_LEVEL_FIELDS or key.startswith("metadata.") else f"metadata.{key}"
        must.append(_checked(field, value))
    if reader.everything:
        return Conditions(must=tuple(must))
    should, should_be_empty = visible_to(reader)
    return Conditions(must=tuple(must), should=should, should_be_empty=should_be_empty)


class QdrantFilterTypes(Protocol[F]):
    """Where Qdrant's filter classes live: `qdrant_edge` and `qdrant_client.models` both name them alike, with the
    same fields."""

    @property
    def Filter(self) -> Callable[..., F]: ...

    @property
    def FieldCondition(self) -> Callable[..., Any]: ...

    @property
    def MatchAny(self) -> Callable[..., Any]: ...

    @property
    def MatchValue(self) -> Callable[..., Any]: ...


def qdrant_filter(types: QdrantFilterTypes[F], conds: Conditions) -> F:
    """The conditions as a Qdrant `Filter` of the given engine's types."""

    def match(key: str, value: object) -> Any:
        if isinstance(value, list):
            return types.FieldCondition(key=key, match=types.MatchAny(any=value))
        return types.FieldCondition(key=key, match=types.MatchValue(value=value))

    should = [match(k, v) for k, v in conds.should]
    should += [types.FieldCondition(key=k, is_empty=True) for k in conds.should_be_empty]
    return types.Filter(
        must=[match(k, v) for k, v in conds.must],
        must_not=[match(k, v) for k, v in conds.must_not] or None,
        should=should or None,
    )
