"""The command bus: how anything (web app, model tools) reaches one live call, in any process.

Delivery is at-most-once, like Redis pub/sub itself: a command published while nobody
listens, or while a subscriber is reconnecting, is lost, and `publish` says how many
received it so the sender can tell the person. Malformed messages are logged and dropped;
they never end a subscription, because a subscription's end ends the call's command loop.

Redis failure policy (decided here, relied on by the call's handler):
- `subscribe()` raises `CommandBusUnavailable` if it cannot confirm the subscription in time.
- An established subscription survives Redis going away: it reconnects with capped, jittered
  backoff and resubscribes, so a Redis blip never hangs up live calls. An idle connection is
  pinged; one that stays silent is treated as dead and replaced.
- `publish()` raises `CommandBusUnavailable` when Redis does not answer in time.

The same machinery carries the browser's live events (`publish_event` / `subscribe_events`,
typed by common/events.py, on `channels.user_events`).

Connections on Redis (so pages can never starve calls, issue 13): each call's command
subscription has a pub/sub connection of its own, from a pool nothing else uses; every
event subscription of the process (one per open page) shares one pub/sub connection
(common/shared_subscriber.py); publishing has a pool of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import RedisError

from common import channels
from common.bus_errors import CommandBusClosed, CommandBusError, CommandBusUnavailable
from common.commands import CallCommand, decode_command, encode_command
from common.events import LiveEvent, decode_event, encode_event
from common.owned_tasks import TaskOwner, cancel_and_wait
from common.shared_subscriber import SharedSubscriber
from common.subscription import Subscription

__all__ = [  # the errors and Subscription live in their own modules; import them from here
    "CommandBus",
    "CommandBusClosed",
    "CommandBusError",
    "CommandBusUnavailable",
    "CommandSubscription",
    "InProcessCommandBus",
    "RedisCommandBus",
    "Subscription",
    "create_command_bus",
    "probe_redis",
]
T = TypeVar("T")
log = logging.getLogger(__name__)
_REDIS_FAILURES = (RedisError, OSError, TimeoutError)


CommandSubscription = Subscription[CallCommand]


class CommandBus(Protocol):
    async def publish(self, call_id: str, command: CallCommand) -> int: ...

    def subscribe(self, call_id: str) -> AbstractAsyncContextManager[CommandSubscription]: ...

    async def publish_event(self, user_id: int, event: LiveEvent) -> int: ...

    def subscribe_events(
        self, user_id: int
    ) -> AbstractAsyncContextManager[Subscription[LiveEvent]]: ...

    async def publish_call_audio(self, call_id: str, data: bytes) -> int: ...

    def subscribe_call_audio(
        self, call_id: str
    ) -> AbstractAsyncContextManager[Subscription[bytes]]: ...

    async def unready(self) -> str | None:
        """Why a new call could not use the bus now (None: it can)."""
        ...

    async def aclose(self) -> None: ...


class _BusBase:
    """The typed surface shared by both transports; subclasses move bytes on channels."""

    async def publish(self, call_id: str, command: CallCommand) -> int:
        return await self._publish_raw(channels.call_commands(call_id), encode_command(command))

    def subscribe(self, call_id: str) -> AbstractAsyncContextManager[CommandSubscription]:
        return self._subscribe_raw(channels.call_commands(call_id), decode_command)

    async def publish_event(self, user_id: int, event: LiveEvent) -> int:
        """To the person's open pages (their channel only); how many received it: pages
        in process, processes with a page open on Redis (pages share a connection)."""
        return await self._publish_raw(channels.user_events(user_id), encode_event(event))

    def subscribe_events(
        self, user_id: int
    ) -> AbstractAsyncContextManager[Subscription[LiveEvent]]:
        return self._subscribe_shared(channels.user_events(user_id), decode_event)

    async def publish_call_audio(self, call_id: str, data: bytes) -> int:
        """A live call's audio records for its listening page (call_processor/live_listen.py)."""
        return await self._publish_raw(channels.call_audio(call_id), data)

    def subscribe_call_audio(
        self, call_id: str
    ) -> AbstractAsyncContextManager[Subscription[bytes]]:
        """A page's subscription, like events: it shares the page connection."""
        return self._subscribe_shared(channels.call_audio(call_id), bytes)

    async def _publish_raw(self, channel: str, data: bytes) -> int:
        raise NotImplementedError

    def _subscribe_raw(
        self, channel: str, decode: Callable[[bytes], T]
    ) -> AbstractAsyncContextManager[Subscription[T]]:
        """A call's subscription: never shares a connection (see the top of this module)."""
        raise NotImplementedError

    def _subscribe_shared(
        self, channel: str, decode: Callable[[bytes], T]
    ) -> AbstractAsyncContextManager[Subscription[T]]:
        """A page's subscription: may share one connection with every other page's."""
        return self._subscribe_raw(channel, decode)


class InProcessCommandBus(_BusBase):
    """One process, no Redis: each subscription has its own queue. Bytes still go through
    the codec so both transports accept and reject exactly the same messages."""

    def __init__(self) -> None:
        self._subscriptions: dict[str, set[Subscription[Any]]] = {}
        self._closed = False

    async def unready(self) -> str | None:
        return "the command bus is closed" if self._closed else None

    async def _publish_raw(self, channel: str, data: bytes) -> int:
        if self._closed:
            raise CommandBusClosed("the command bus is closed")
        receivers = self._subscriptions.get(channel, set())
        for subscription in receivers:
            subscription.deliver(data)
        return len(receivers)

    @contextlib.asynccontextmanager
    async def _subscribe_raw(
        self, channel: str, decode: Callable[[bytes], T]
    ) -> AsyncIterator[Subscription[T]]:
        if self._closed:
            raise CommandBusClosed("the command bus is closed")
        subscription = Subscription(channel, decode)
        self._subscriptions.setdefault(channel, set()).add(subscription)
        try:
            yield subscription
        finally:
            self._forget(subscription)

    def _forget(self, subscription: Subscription[Any]) -> None:
        subscription.end()
        receivers = self._subscriptions.get(subscription.channel, set())
        receivers.discard(subscription)
        if not receivers:
            self._subscriptions.pop(subscription.channel, None)

    async def aclose(self) -> None:
        self._closed = True
        for receivers in list(self._subscriptions.values()):
            for subscription in list(receivers):
                self._forget(subscription)


class RedisCommandBus(_BusBase):
    """Redis pub/sub: per call, one connection and one owned reader task; pages share one."""

    def __init__(
        self,
        redis_url: str,
        *,
        timeout: float = 5.0,
        heartbeat: float = 10.0,
        max_backoff: float = 5.0,
        max_call_subscriptions: int = 10_000,
    ) -> None:
        self.client_name = f"opendeep-bus-{uuid.uuid4().hex[:12]}"
        self.events_client_name = f"{self.client_name}-events"
        options: dict[str, Any] = {
            "socket_connect_timeout": timeout,
            "socket_timeout": timeout,
            "socket_keepalive": True,
            # A short retry inside redis-py; longer outages are this module's job (see top).
            "retry": Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), retries=2),
        }
        name = self.client_name
        self._publisher = aioredis.Redis.from_url(redis_url, client_name=name, **options)
        self._redis = aioredis.Redis.from_url(
            redis_url, client_name=name, max_connections=max_call_subscriptions, **options
        )
        self._events_redis = aioredis.Redis.from_url(
            redis_url, client_name=self.events_client_name, max_connections=2, **options
        )
        self._shared = SharedSubscriber(
            self._events_redis, timeout=timeout, heartbeat=heartbeat, max_backoff=max_backoff
        )
        self._timeout = timeout
        self._heartbeat = heartbeat
        self._max_backoff = max_backoff
        self._tasks = TaskOwner("command_bus")
        self._subscriptions: set[Subscription[Any]] = set()
        self._closed = False

    def _subscribe_shared(
        self, channel: str, decode: Callable[[bytes], T]
    ) -> AbstractAsyncContextManager[Subscription[T]]:
        if self._closed:
            raise CommandBusClosed("the command bus is closed")
        return self._shared.subscribe(channel, decode)

    async def unready(self) -> str | None:
        """One PING on the publishing pool (no new connection when one is idle)."""
        if self._closed:
            return "the command bus is closed"
        try:
            await asyncio.wait_for(self._publisher.ping(), self._timeout)
        except _REDIS_FAILURES as exc:
            return f"Redis does not answer ({type(exc).__name__})"
        return None

    async def _publish_raw(self, channel: str, data: bytes) -> int:
        if self._closed:
            raise CommandBusClosed("the command bus is closed")
        try:
            return int(
                await asyncio.wait_for(self._publisher.publish(channel, data), self._timeout)
            )
        except _REDIS_FAILURES as exc:
            raise CommandBusUnavailable(f"Redis did not take the message: {exc!r}") from exc

    @contextlib.asynccontextmanager
    async def _subscribe_raw(
        self, channel: str, decode: Callable[[bytes], T]
    ) -> AsyncIterator[Subscription[T]]:
        if self._closed:
            raise CommandBusClosed("the command bus is closed")
        pubsub = await self._open_pubsub(channel)
        subscription = Subscription(channel, decode)
        reader = self._tasks.spawn(self._read(subscription, pubsub), name=f"subscription:{channel}")
        self._subscriptions.add(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions.discard(subscription)
            subscription.end()
            await cancel_and_wait(reader, timeout=self._timeout)

    async def _open_pubsub(self, channel: str) -> PubSub:
        """A pubsub whose SUBSCRIBE the server has confirmed, so no later publish is missed."""
        pubsub = self._redis.pubsub()
        try:
            await asyncio.wait_for(self._confirm_subscribe(pubsub, channel), self._timeout)
        except BaseException as exc:
            await pubsub.aclose()
            if isinstance(exc, _REDIS_FAILURES):
                raise CommandBusUnavailable(f"could not subscribe: {exc!r}") from exc
            raise
        return pubsub

    async def _confirm_subscribe(self, pubsub: PubSub, channel: str) -> None:
        await pubsub.subscribe(channel)
        while True:
            message = await pubsub.get_message(timeout=self._timeout)
            if message is not None and message["type"] == "subscribe":
                return

    async def _read(self, subscription: Subscription[Any], pubsub: PubSub) -> None:
        """Move messages into the subscription until cancelled, reconnecting when Redis fails."""
        try:
            while True:
                try:
                    await self._pump(subscription, pubsub)
                except _REDIS_FAILURES as exc:
                    log.warning(
                        "bus subscription lost; reconnecting",
                        extra={"channel": subscription.channel, "error": repr(exc)},
                    )
                    await pubsub.aclose()
                    pubsub = await self._reopen(subscription.channel)
        finally:
            subscription.end()  # also when this asyncio task dies of a bug: no silent deafness
            await pubsub.aclose()

    async def _pump(self, subscription: Subscription[Any], pubsub: PubSub) -> None:
        last_heard = time.monotonic()
        while True:
            message = await pubsub.get_message(timeout=self._heartbeat)
            if message is None:
                if time.monotonic() - last_heard > 3 * self._heartbeat:
                    raise TimeoutError("Redis did not answer pings on the subscription")
                await asyncio.wait_for(pubsub.ping(), self._timeout)
                continue
            last_heard = time.monotonic()
            if message["type"] == "message":
                subscription.deliver(message["data"])

    async def _reopen(self, channel: str) -> PubSub:
        delay = 0.05
        while True:
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            try:
                pubsub = await self._open_pubsub(channel)
            except CommandBusUnavailable:
                delay = min(delay * 2, self._max_backoff)
                continue
            log.info("bus subscription restored", extra={"channel": channel})
            return pubsub

    async def aclose(self) -> None:
        """End every subscription (their iterators stop), then close the Redis connections."""
        self._closed = True
        for subscription in list(self._subscriptions):
            subscription.end()
        await self._tasks.aclose(timeout=self._timeout)
        await self._shared.aclose()
        for client in (self._redis, self._events_redis, self._publisher):
            await client.aclose()


def create_command_bus(redis_url: str | None) -> CommandBus:
    """Redis when configured (several processes share calls), else in-process queues."""
    if redis_url:
        return RedisCommandBus(redis_url)
    return InProcessCommandBus()


async def probe_redis(url: str) -> str:
    """For `main.py doctor` and /readyz: one PING with short timeouts."""
    client = aioredis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        await client.ping()
        return "PING answered"
    finally:
        await client.aclose()
