"""The in-process state: one process's counters, lost when it stops (the default, without RAG_STATE_URL)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta

from limits.aio.storage import MemoryStorage, Storage

from rag.limits.backend import Spent, StateBackend
from rag.limits.usage import UsageCounts, UsageRecord, UsageRow, month_of
from rag.settings import LimitSettings, default_of


class MemoryState(StateBackend):
    name = "memory"

    def __init__(self, *, retention_days: int = default_of(LimitSettings, "usage_retention_days")) -> None:
        self._storage = MemoryStorage()
        self._retention = timedelta(days=retention_days)
        self._usage: dict[tuple[str, date], dict[tuple[str, str | None], UsageCounts]] = defaultdict(dict)
        self._day_tokens: dict[tuple[str, date], int] = defaultdict(int)
        self._month_tokens: dict[tuple[str, str], int] = defaultdict(int)
        self._newest: date | None = None  # the newest day recorded: past days are forgotten when it changes

    @property
    def rate_storage(self) -> Storage:
        return self._storage

    async def add_usage(self, records: Sequence[UsageRecord]) -> None:
        for r in records:
            if not r.counts.items():
                continue  # as on Redis: nothing counted, no row
            by_caller = self._usage[(r.tenant, r.day)]
            caller = (r.subject, r.key_id)
            by_caller[caller] = by_caller.get(caller, UsageCounts()) + r.counts
            self._day_tokens[(r.tenant, r.day)] += r.counts.tokens
            self._month_tokens[(r.tenant, month_of(r.day))] += r.counts.tokens
        newest = max((r.day for r in records), default=None)
        if newest is not None and newest != self._newest:  # once a day, not per record: a scan of every key
            self._newest = newest
            self._forget_before(newest - self._retention)

    def _forget_before(self, oldest: date) -> None:
        for key in [k for k in self._usage if k[1] < oldest]:
            del self._usage[key]
        for day_key in [k for k in self._day_tokens if k[1] < oldest]:
            del self._day_tokens[day_key]

    async def spent(self, tenant: str, day: date) -> Spent:
        return Spent(self._day_tokens.get((tenant, day), 0), self._month_tokens.get((tenant, month_of(day)), 0))

    async def usage(self, tenant: str, first: date, last: date) -> list[UsageRow]:
        rows = []
        day = first
        while day <= last:
            for (subject, key_id), counts in sorted(self._usage.get((tenant, day), {}).items(), key=str):
                rows.append(UsageRow(day, subject, key_id, counts))
            day += timedelta(days=1)
        return rows

    async def ping(self) -> None:
        return None
