"""Many channel subscriptions over one Redis pub/sub connection: the live events of pages.

Why: redis-py gives every PubSub its own connection from a bounded pool, so one connection
per open page let a single account holding 100 pages take every connection of the process,
and other people's pages, their answers to questions and new calls' command subscriptions
failed (issue 13). Pages are many and cheap; here they share one connection whatever their
number, and the command bus keeps calls on connections of their own.

The same policy as the command bus (common/command_bus.py): `subscribe` returns only once
Redis has confirmed the channel (so no later publish is missed) or raises
`CommandBusUnavailable`; a lost or silent connection is replaced with capped, jittered
backoff and every channel still wanted is subscribed again; messages published meanwhile
are lost (at-most-once).

Every write on the connection (SUBSCRIBE, UNSUBSCRIBE, PING) happens under one lock; one
owned reader task reads it and hands messages to the subscriptions of their channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from common.bus_errors import CommandBusClosed, CommandBusUnavailable
from common.owned_tasks import TaskOwner
from common.subscription import Subscription

T = TypeVar("T")
log = logging.getLogger(__name__)
_REDIS_FAILURES = (RedisError, OSError, TimeoutError)


class SharedSubscriber:
    def __init__(
        self, redis: aioredis.Redis, *, timeout: float, heartbeat: float, max_backoff: float
    ) -> None:
        self._redis = redis
        self._timeout = timeout
        self._heartbeat = heartbeat
        self._max_backoff = max_backoff
        # Always subscribed, so the connection is in pub/sub mode even with no page open.
        self._anchor = f"opendeep:shared:{uuid.uuid4().hex}"
        self._receivers: dict[str, set[Subscription[Any]]] = {}
        self._confirmed: dict[str, asyncio.Event] = {}
        self._pubsub: PubSub | None = None
        self._up = asyncio.Event()  # the connection is subscribed to every wanted channel
        self._lock = asyncio.Lock()
        self._tasks = TaskOwner("shared_subscriber")
        self._reader: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def channels(self) -> int:
        """How many channels have subscribers (for tests and metrics)."""
        return len(self._receivers)

    @contextlib.asynccontextmanager
    async def subscribe(
        self, channel: str, decode: Callable[[bytes], T]
    ) -> AsyncIterator[Subscription[T]]:
        if self._closed:
            raise CommandBusClosed("the command bus is closed")
        subscription = Subscription(channel, decode)
        try:
            await self._join(subscription)
            yield subscription
        finally:
            subscription.end()
            await self._leave(subscription)

    async def _join(self, subscription: Subscription[Any]) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await self._start()
                confirmed = await self._add(subscription)
                await confirmed.wait()
        except _REDIS_FAILURES as exc:
            raise CommandBusUnavailable(f"could not subscribe: {exc!r}") from exc

    async def _start(self) -> None:
        """The first subscription opens the connection and starts the reader."""
        async with self._lock:
            if self._reader is not None:
                return
            if self._closed:
                raise CommandBusClosed("the command bus is closed")
            await self._open()
            self._reader = self._tasks.spawn(self._read(), name="reader")

    async def _add(self, subscription: Subscription[Any]) -> asyncio.Event:
        """Register the subscription; SUBSCRIBE its channel if it is the channel's first."""
        while True:
            await self._up.wait()  # while reconnecting, the reconnect subscribes for us
            async with self._lock:
                if self._closed:
                    raise CommandBusClosed("the command bus is closed")
                if not self._up.is_set() or self._pubsub is None:
                    continue
                channel = subscription.channel
                self._receivers.setdefault(channel, set()).add(subscription)
                confirmed = self._confirmed.get(channel)
                if confirmed is None:
                    confirmed = self._confirmed[channel] = asyncio.Event()
                    await self._pubsub.subscribe(channel)
                return confirmed

    async def _leave(self, subscription: Subscription[Any]) -> None:
        async with self._lock:
            receivers = self._receivers.get(subscription.channel)
            if receivers is None or subscription not in receivers:
                return
            receivers.discard(subscription)
            if receivers:
                return
            del self._receivers[subscription.channel]
            self._confirmed.pop(subscription.channel, None)
            if self._pubsub is not None and self._up.is_set():
                # A failure here is a dying connection: its replacement subscribes only to
                # the channels still wanted.
                with contextlib.suppress(*_REDIS_FAILURES):
                    await asyncio.wait_for(
                        self._pubsub.unsubscribe(subscription.channel), self._timeout
                    )

    async def _open(self) -> None:
        """A new connection subscribed (confirmed) to the anchor and every wanted channel.
        Called with the lock held."""
        pubsub = self._redis.pubsub()
        wanted = [self._anchor, *self._receivers]
        try:
            async with asyncio.timeout(self._timeout):
                await pubsub.subscribe(*wanted)
                waiting = set(wanted)
                while waiting:
                    message = await pubsub.get_message(timeout=self._timeout)
                    if message is not None:
                        self._dispatch(message)
                        if message["type"] == "subscribe":
                            waiting.discard(_text(message["channel"]))
        except BaseException:
            await pubsub.aclose()
            raise
        self._pubsub = pubsub
        self._up.set()

    async def _read(self) -> None:
        """Hand messages to subscriptions until cancelled, replacing the connection on failure."""
        try:
            while True:
                try:
                    await self._pump()
                except _REDIS_FAILURES as exc:
                    log.warning(
                        "shared bus connection lost; reconnecting", extra={"error": repr(exc)}
                    )
                    await self._drop_connection()
                    await self._reopen()
        finally:
            self._up.clear()
            for receivers in list(self._receivers.values()):
                for subscription in receivers:
                    subscription.end()  # also when this task dies of a bug: no silent deafness

    async def _pump(self) -> None:
        assert self._pubsub is not None
        pubsub, last_heard = self._pubsub, time.monotonic()
        while True:
            message = await pubsub.get_message(timeout=self._heartbeat)
            if message is None:
                if time.monotonic() - last_heard > 3 * self._heartbeat:
                    raise TimeoutError("Redis did not answer pings on the shared connection")
                async with self._lock:
                    await asyncio.wait_for(pubsub.ping(), self._timeout)
                continue
            last_heard = time.monotonic()
            self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        channel = _text(message["channel"]) if message.get("channel") is not None else ""
        if message["type"] == "message":
            for subscription in self._receivers.get(channel, ()):
                subscription.deliver(message["data"])
        elif message["type"] == "subscribe" and channel in self._confirmed:
            self._confirmed[channel].set()

    async def _drop_connection(self) -> None:
        self._up.clear()
        async with self._lock:
            if self._pubsub is not None:
                await self._pubsub.aclose()
                self._pubsub = None

    async def _reopen(self) -> None:
        delay = 0.05
        while True:
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            try:
                async with self._lock:
                    await self._open()
            except _REDIS_FAILURES:
                delay = min(delay * 2, self._max_backoff)
                continue
            log.info("shared bus connection restored", extra={"channels": self.channels})
            return

    async def aclose(self) -> None:
        """End every subscription (their iterators stop) and close the connection."""
        self._closed = True
        self._up.clear()
        for receivers in list(self._receivers.values()):
            for subscription in receivers:
                subscription.end()
        await self._tasks.aclose(timeout=self._timeout)
        if self._pubsub is not None:
            await self._pubsub.aclose()
            self._pubsub = None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
