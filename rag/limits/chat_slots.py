"""Chats in flight per tenant: at most `max_concurrent_chats` (RAG_TENANT_MAX_CONCURRENT_CHATS, or the limits file's
entry for the tenant; 0: no cap) at once; one more is refused (RateLimited, 429) before any work. The cap is what
bounds a token quota's overshoot: a chat is admitted while its tenant is below its quota and is counted whole when
it ends, so without a cap any number of chats admitted together could each spend a whole answer past the quota.

Where the slots live follows the state backend. In process (no RAG_STATE_URL): a set per tenant. On Redis: a sorted
set `rag:chats:{tenant}` of slot ids, each scored with the end of its lease on Redis's clock, shared by every
replica. A slot is taken and counted in one script (expired leases dropped first), renewed by its process every
third of the lease while the chat runs, and given back when the chat ends. A replica that dies holding slots stops
renewing them: they lapse after `LEASE_S`, and nothing is held forever.

When the backend cannot be reached, RAG_STATE_FAILURE decides as for the other checks (rag/limits/guarded.py): the
chat runs without a slot (`open`), or is refused with 503 (`closed`). A slot that cannot be given back lapses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import cast

import redis.asyncio as aioredis

from rag.errors import RateLimited
from rag.limits.backend import StateUnavailable
from rag.limits.guarded import GuardedState
from rag.limits.limits_file import Limits
from rag.limits.redis_backend import RedisState

log = logging.getLogger(__name__)
LEASE_S = 30.0  # a slot nobody renews lapses this long after its last renewal (Redis only)
RETRY_AFTER_S = 1.0  # chats end at any moment: a refused caller may retry soon


class SlotStore(ABC):
    """Where the tenants' slots are held."""

    @abstractmethod
    async def take(self, tenant: str, slot: str, cap: int) -> bool:
        """Hold `slot` for `tenant` if it holds fewer than `cap`; whether it was taken."""

    @abstractmethod
    async def renew(self, held: Mapping[str, Sequence[str]]) -> None:
        """Extend the leases of these slots (by tenant), held again if one had lapsed meanwhile."""

    @abstractmethod
    async def give_back(self, tenant: str, slot: str) -> None:
        """Free `slot`."""

    @abstractmethod
    async def held(self, tenant: str) -> int:
        """The tenant's slots held now (leases that lapsed not counted)."""


class MemorySlots(SlotStore):
    """One process's slots: no lease, a process that dies takes them with it."""

    def __init__(self) -> None:
        self._held: dict[str, set[str]] = {}

    async def take(self, tenant: str, slot: str, cap: int) -> bool:
        slots = self._held.setdefault(tenant, set())
        if len(slots) >= cap:
            return False
        slots.add(slot)
        return True

    async def renew(self, held: Mapping[str, Sequence[str]]) -> None:
        return None

    async def give_back(self, tenant: str, slot: str) -> None:
        slots = self._held.get(tenant)
        if slots is not None:
            slots.discard(slot)
            if not slots:
                del self._held[tenant]

    async def held(self, tenant: str) -> int:
        return len(self._held.get(tenant, ()))


# KEYS[1]: the tenant's slots. ARGV: slot id, cap, lease (ms). Times are Redis's own (TIME): replicas' clocks may
# disagree, Redis's is one. The key's own expiry is the newest lease's end: a tenant nobody renews leaves nothing.
_NOW = "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "
_TAKE = (
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
"""
)
# KEYS[1]: the tenant's slots. ARGV: lease (ms), then the slot ids this process holds.
_RENEW = (
    _NOW
    + """
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]))
return #ARGV - 1
"""
)
_HELD = _NOW + "return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')"


class RedisSlots(SlotStore):
    """Slots shared by every replica, each on a lease (module docstring)."""

    def __init__(self, client: aioredis.Redis, *, lease_s: float = LEASE_S) -> None:
        self._redis, self._lease_ms = client, max(1, math.ceil(lease_s * 1000))
        self._take = client.register_script(_TAKE)
        self._renew = client.register_script(_RENEW)
        self._held = client.register_script(_HELD)

    @staticmethod
    def _key(tenant: str) -> str:
        return f"rag:chats:{tenant}"

    async def take(self, tenant: str, slot: str, cap: int) -> bool:
        return bool(await self._take(keys=[self._key(tenant)], args=[slot, cap, self._lease_ms]))

    async def renew(self, held: Mapping[str, Sequence[str]]) -> None:
        for tenant, slots in held.items():
            if slots:
                await self._renew(keys=[self._key(tenant)], args=[self._lease_ms, *slots])

    async def give_back(self, tenant: str, slot: str) -> None:
        await self._redis.zrem(self._key(tenant), slot)

    async def held(self, tenant: str) -> int:
        return int(cast(int, await self._held(keys=[self._key(tenant)])))


class ChatSlot:
    """One chat's slot; `release` gives it back (once, whatever cancels the caller meanwhile)."""

    def __init__(self, owner: ChatSlots, tenant: str, slot: str) -> None:
        self._owner, self.tenant, self.id = owner, tenant, slot
        self._released = False

    async def release(self) -> None:
        if self._released:
            return
        self._released = True
        # shielded: a cancelled request (its client gone, the server stopping) still frees its slot
        await asyncio.shield(self._owner.give_back(self))


class ChatSlots:
    """The tenants' chats in flight, against their caps (module docstring)."""

    def __init__(self, state: GuardedState, store: SlotStore, limits: Limits, *, lease_s: float = LEASE_S) -> None:
        self.state, self.store, self.limits = state, store, limits
        self._renew_every_s = lease_s / 3
        self._mine: dict[str, set[str]] = {}  # the slots this process holds, by tenant: what its renewer renews
        self._renewer: asyncio.Task[None] | None = None
        self._errors: tuple[type[Exception], ...] = (StateUnavailable, *state.backend.errors)

    @classmethod
    def over(cls, state: GuardedState, limits: Limits, *, lease_s: float = LEASE_S) -> ChatSlots:
        """The slots where `state`'s backend keeps its counters: on its Redis, or in this process."""
        backend = state.backend
        store = RedisSlots(backend.client, lease_s=lease_s) if isinstance(backend, RedisState) else MemorySlots()
        return cls(state, store, limits, lease_s=lease_s)

    async def admit(self, tenant: str) -> ChatSlot | None:
        """A slot for one chat of `tenant`, or RateLimited (429) when it has its cap in flight. None without a cap
        (or the check skipped: the backend is down and the policy is `open`): nothing to give back."""
        cap = self.limits.for_tenant(tenant).max_concurrent_chats
        if cap <= 0:
            return None
        slot = uuid.uuid4().hex
        taken = await self.state.check("concurrency", lambda: self.store.take(tenant, slot, cap), None)
        if taken is None:
            return None
        if not taken:
            raise RateLimited(
                f"too many chats in flight for this tenant: at most {cap} at a time (its max_concurrent_chats); "
                "retry when one has finished",
                retry_after_s=RETRY_AFTER_S,
                limit=cap,
            )
        self._mine.setdefault(tenant, set()).add(slot)
        if isinstance(self.store, RedisSlots) and (self._renewer is None or self._renewer.done()):
            self._renewer = asyncio.create_task(self._renew_while_held())
        return ChatSlot(self, tenant, slot)

    async def give_back(self, slot: ChatSlot) -> None:
        mine = self._mine.get(slot.tenant)
        if mine is not None:
            mine.discard(slot.id)
            if not mine:
                del self._mine[slot.tenant]
        try:
            await self.store.give_back(slot.tenant, slot.id)
        except self._errors as exc:  # the lease ends it
            log.warning("chat slot of tenant %s not given back (%s): it lapses within %.0f s",
                        slot.tenant, exc, 3 * self._renew_every_s)  # fmt: skip

    async def held(self, tenant: str) -> int:
        """The tenant's chats in flight (every replica's, on Redis)."""
        return await self.store.held(tenant)

    async def _renew_while_held(self) -> None:
        while self._mine:
            await asyncio.sleep(self._renew_every_s)
            held = {tenant: sorted(slots) for tenant, slots in self._mine.items()}
            try:
                await self.store.renew(held)
            except self._errors as exc:
                log.warning("chat slots not renewed (%s): retrying in %.1f s", exc, self._renew_every_s)

    async def aclose(self) -> None:
        """Stop renewing (at shutdown: what is still held lapses)."""
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
