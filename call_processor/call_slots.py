"""MAX_CONCURRENT_CALLS: a slot per live call, held from dialing until the call ends.

Two implementations behind one protocol. `InProcessCallSlots` counts in memory (one
process, no Redis). `RedisCallSlots` is a semaphore shared by every process on the same
Redis: a sorted set of "{node_id}/{call_id}" members scored by lease expiry (Redis server
time, so clocks of the nodes never matter). Acquiring is one Lua script (drop expired,
count, add if below the limit); the node that holds slots extends their leases every
lease/3 seconds, so the slots of a process that died expire within one lease. Waiters poll
with jitter (and wake at once on a release in their own process): simple, and correct
without pub/sub, at the cost of up to one poll interval of latency across processes.

Failure policy: `acquire` raises `CallSlotsUnavailable` when Redis does not answer (the
caller retries the task later; placing a call without a slot is never right). `release`
never raises: if Redis is unreachable, the lease simply runs out, since this node stopped
extending it. An acquire whose reply was lost (timeout, cancellation) may leave a slot
taken for at most one lease, for the same reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable
from types import TracebackType
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import RedisError

from common import channels
from common.owned_tasks import TaskOwner

log = logging.getLogger(__name__)
_REDIS_FAILURES = (RedisError, OSError, TimeoutError)


class CallSlotsClosed(RuntimeError):
    """The limiter was closed; no more slots are handed out."""


class CallSlotsUnavailable(RuntimeError):
    """Redis did not answer in time; no slot was taken."""


class Slot:
    """A held slot; leaving `async with slot:` releases it (idempotent)."""

    def __init__(self, owner: CallSlots, call_id: str) -> None:
        self.call_id = call_id
        self._owner = owner

    async def release(self) -> None:
        await self._owner.release(self.call_id)

    async def __aenter__(self) -> Slot:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.release()


class CallSlots(Protocol):
    """Acquiring an id that is already held returns at once without taking a second slot."""

    async def start(self) -> None: ...

    async def acquire(self, call_id: str, timeout: float | None = None) -> Slot: ...

    async def release(self, call_id: str) -> None: ...

    async def in_use(self) -> int: ...

    async def aclose(self) -> None: ...


class InProcessCallSlots:
    """The limit for a single process: a set of held ids and a condition to wait on."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self._held: set[str] = set()
        self._changed = asyncio.Condition()
        self._closed = False

    async def start(self) -> None:
        """Nothing to start; here so both implementations are driven the same way."""

    async def acquire(self, call_id: str, timeout: float | None = None) -> Slot:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: self._closed or self._available(call_id))
            if self._closed:
                raise CallSlotsClosed("call slots are closed")
            self._held.add(call_id)
        return Slot(self, call_id)

    def _available(self, call_id: str) -> bool:
        return call_id in self._held or len(self._held) < self.limit

    async def release(self, call_id: str) -> None:
        async with self._changed:
            if call_id in self._held:
                self._held.discard(call_id)
                self._changed.notify_all()

    async def in_use(self) -> int:
        return len(self._held)

    async def aclose(self) -> None:
        """Release everything and wake waiters, who get `CallSlotsClosed`."""
        async with self._changed:
            self._closed = True
            self._held.clear()
            self._changed.notify_all()


# KEYS[1] the sorted set; ARGV: lease ms, limit, member. Returns 1 if held now, else 0.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local expiry = now + tonumber(ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[3]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], expiry, ARGV[3])
  return 1
end
return 0
"""

# KEYS[1] the sorted set; ARGV: lease ms, members... Extends live members; returns lost ones.
_REFRESH = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local lost = {}
for i = 2, #ARGV do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[i])
  else
    table.insert(lost, ARGV[i])
  end
end
return lost
"""

# KEYS[1] the sorted set. Counts live members.
_COUNT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])
"""


class RedisCallSlots:
    """The limit shared by every process using the same Redis and `name` (see module doc)."""

    def __init__(
        self,
        redis_url: str,
        limit: int,
        node_id: str,
        lease_seconds: float = 15.0,
        *,
        name: str = "global",
        poll_interval: float = 0.25,
        timeout: float = 5.0,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.node_id = node_id
        self.key = channels.call_slots(name)
        self._lease_ms = max(1, round(lease_seconds * 1000))
        self._poll_interval = poll_interval
        self._timeout = timeout
        self._redis = aioredis.Redis.from_url(
            redis_url,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), retries=2),
        )
        self._acquire_script = self._redis.register_script(_ACQUIRE)
        self._refresh_script = self._redis.register_script(_REFRESH)
        self._count_script = self._redis.register_script(_COUNT)
        self._held: set[str] = set()
        self._released = asyncio.Event()
        self._tasks = TaskOwner(f"call_slots:{node_id}")
        self._started = False
        self._closed = False

    def _member(self, call_id: str) -> str:
        return f"{self.node_id}/{call_id}"

    async def start(self) -> None:
        """Start extending the leases of this node's slots (until `aclose`)."""
        if not self._started:
            self._started = True
            self._tasks.spawn(self._refresh_forever(), name="lease_refresher")

    async def acquire(self, call_id: str, timeout: float | None = None) -> Slot:
        if self._closed:
            raise CallSlotsClosed("call slots are closed")
        if not self._started:
            raise RuntimeError("start() the call slots first, or their leases would lapse")
        deadline = None if timeout is None else time.monotonic() + timeout
        while not await self._try_acquire(call_id):
            if self._closed:
                raise CallSlotsClosed("call slots are closed")
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError(f"no free call slot within {timeout}s")
            await self._wait_for_release(remaining)
        self._held.add(call_id)
        return Slot(self, call_id)

    async def _try_acquire(self, call_id: str) -> bool:
        args: list[int | str] = [self._lease_ms, self.limit, self._member(call_id)]
        result = await self._call(self._acquire_script(keys=[self.key], args=args))
        if self._closed:  # closed while we waited: give back what we just took
            await self._call(self._redis.zrem(self.key, self._member(call_id)))
            raise CallSlotsClosed("call slots are closed")
        return bool(result)

    async def _wait_for_release(self, remaining: float | None) -> None:
        """Sleep a jittered poll interval, or less if a slot is released in this process."""
        pause = self._poll_interval * random.uniform(0.5, 1.5)
        if remaining is not None:
            pause = min(pause, remaining)
        self._released.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._released.wait(), pause)

    async def release(self, call_id: str) -> None:
        if call_id not in self._held:
            return
        self._held.discard(call_id)  # first: from now on its lease is no longer extended
        self._released.set()
        try:
            await self._call(self._redis.zrem(self.key, self._member(call_id)))
        except CallSlotsUnavailable:
            log.warning(
                "could not release a call slot; its lease will expire", extra={"call_id": call_id}
            )

    async def in_use(self) -> int:
        return int(await self._call(self._count_script(keys=[self.key], args=[])))

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self._lease_ms / 3000)
            try:
                await self._refresh()
            except CallSlotsUnavailable:
                log.warning("could not extend call slot leases", extra={"node_id": self.node_id})

    async def _refresh(self) -> None:
        held = sorted(self._held)
        if not held:
            return
        args: list[int | str] = [self._lease_ms, *(self._member(call_id) for call_id in held)]
        lost = await self._call(self._refresh_script(keys=[self.key], args=args))
        for member in lost:
            call_id = member.decode().split("/", 1)[1]
            self._held.discard(call_id)
            log.warning(
                "a call slot lease lapsed before it was extended", extra={"call_id": call_id}
            )

    async def _call(self, operation: Awaitable[Any]) -> Any:
        try:
            return await asyncio.wait_for(operation, self._timeout)
        except _REDIS_FAILURES as exc:
            raise CallSlotsUnavailable(f"Redis did not answer: {exc!r}") from exc

    async def aclose(self) -> None:
        """Stop extending leases and give back every slot this node still holds."""
        self._closed = True
        self._released.set()
        await self._tasks.aclose(timeout=self._timeout)
        for call_id in list(self._held):
            await self.release(call_id)
        await self._redis.aclose()


def create_call_slots(redis_url: str | None, limit: int, node_id: str) -> CallSlots:
    """Redis when configured (the limit spans every process), else in-process."""
    if redis_url:
        return RedisCallSlots(redis_url, limit, node_id)
    return InProcessCallSlots(limit)
