"""The state on a Redis server (RAG_STATE_URL), shared by every API replica and ingestion job.

Keys (prefix `rag:`): `usage:{tenant}:{day}` a hash of counts by subject, key and metric (kept
RAG_USAGE_RETENTION_DAYS); `tokens:{tenant}:d:{day}` and `tokens:{tenant}:m:{month}` the tokens a tenant spent.
A usage write is one MULTI transaction. Rate-limit windows are the `limits` library's own keys (`LIMITS:`), on
the same connection pool. Commands time out after RAG_STATE_TIMEOUT_S and are not retried here: the failure policy
(rag/limits/guarded.py) decides what a failure means.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, timedelta

import redis.asyncio as aioredis
from limits.aio.storage import RedisStorage, Storage
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from rag.limits.backend import Spent, StateBackend, StateUnavailable
from rag.limits.usage import METRICS, UsageCounts, UsageRecord, UsageRow, month_of
from rag.settings import LimitSettings, default_of

ERRORS: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError, OSError)


def _field(subject: str, key_id: str | None, metric: str) -> str:
    return json.dumps([subject, key_id, metric], separators=(",", ":"))


class RedisState(StateBackend):
    name = "redis"
    errors = ERRORS

    def __init__(
        self,
        url: str,
        *,
        password: str | None = None,
        timeout_s: float = default_of(LimitSettings, "state_timeout_s"),
        retention_days: int = default_of(LimitSettings, "usage_retention_days"),
    ) -> None:
        if not url.startswith(("redis://", "rediss://")):
            raise ValueError("RAG_STATE_URL must be a redis:// or rediss:// URL")
        self._pool = aioredis.ConnectionPool.from_url(
            url,
            password=password,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=30,
        )
        self._redis = aioredis.Redis(connection_pool=self._pool)
        self._storage = RedisStorage(
            f"async+{url}",
            implementation="redispy",
            connection_pool=self._pool,  # type: ignore[arg-type]
        )
        self._retention_s = int(timedelta(days=retention_days).total_seconds())

    @property
    def rate_storage(self) -> Storage:
        return self._storage

    @property
    def client(self) -> aioredis.Redis:
        """The client on this pool, for state kept beside the counters (rag/limits/chat_slots.py)."""
        return self._redis

    async def _run(self, pipe: aioredis.client.Pipeline) -> list[object]:
        try:
            return list(await pipe.execute())
        except ERRORS as exc:
            raise StateUnavailable(f"redis: {type(exc).__name__}") from exc

    async def add_usage(self, records: Sequence[UsageRecord]) -> None:
        if not records:
            return
        pipe = self._redis.pipeline(transaction=True)
        for r in records:
            usage_key = f"rag:usage:{r.tenant}:{r.day.isoformat()}"
            for metric, value in r.counts.items().items():
                pipe.hincrby(usage_key, _field(r.subject, r.key_id, metric), value)
            pipe.expire(usage_key, self._retention_s)
            if tokens := r.counts.tokens:
                day_key, month_key = self._token_keys(r.tenant, r.day)
                pipe.incrby(day_key, tokens)
                pipe.expire(day_key, 3 * 86_400)
                pipe.incrby(month_key, tokens)
                pipe.expire(month_key, 63 * 86_400)
        await self._run(pipe)

    @staticmethod
    def _token_keys(tenant: str, day: date) -> tuple[str, str]:
        return f"rag:tokens:{tenant}:d:{day.isoformat()}", f"rag:tokens:{tenant}:m:{month_of(day)}"

    async def spent(self, tenant: str, day: date) -> Spent:
        pipe = self._redis.pipeline(transaction=False)
        pipe.mget(*self._token_keys(tenant, day))
        (values,) = await self._run(pipe)
        day_tokens, month_tokens = list(values)  # type: ignore[call-overload]
        return Spent(int(day_tokens or 0), int(month_tokens or 0))

    async def usage(self, tenant: str, first: date, last: date) -> list[UsageRow]:
        days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        pipe = self._redis.pipeline(transaction=False)
        for day in days:
            pipe.hgetall(f"rag:usage:{tenant}:{day.isoformat()}")
        rows = []
        for day, fields in zip(days, await self._run(pipe), strict=True):
            by_caller: dict[tuple[str, str | None], dict[str, int]] = {}
            for raw_field, raw_value in dict(fields).items():  # type: ignore[call-overload]
                subject, key_id, metric = json.loads(raw_field)
                if metric in METRICS:
                    by_caller.setdefault((subject, key_id), {})[metric] = int(raw_value)
            for (subject, key_id), counts in sorted(by_caller.items(), key=str):
                rows.append(UsageRow(day, subject, key_id, UsageCounts(**counts)))
        return rows

    async def ping(self) -> None:
        try:
            await self._redis.ping()  # type: ignore[misc]
        except ERRORS as exc:
            raise StateUnavailable(f"redis: {type(exc).__name__}") from exc

    async def aclose(self) -> None:
        await self._redis.aclose()
        await self._pool.aclose()
