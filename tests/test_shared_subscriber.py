"""The command bus on Redis: every page's event subscription shares one connection
(common/shared_subscriber.py) while calls keep connections of their own.

Before, each subscription took a connection from one pool of 100: one account's pages
took them all and calls could no longer subscribe (issue 13).
"""

from __future__ import annotations

import asyncio
import contextlib
import random

import pytest
import redis.asyncio as aioredis

from common import channels
from common.command_bus import CommandBusClosed, CommandBusUnavailable, RedisCommandBus
from common.commands import Hangup
from common.events import NotificationSent, encode_event
from tests.test_command_bus import (
    FreezableProxy,
    closed_port_url,
    new_call_id,
    next_of,
    raw_redis,
    redis_bus,
)

__all__ = ["raw_redis", "redis_bus"]  # fixtures, used by name


async def bus_connections(client: aioredis.Redis, bus: RedisCommandBus) -> dict[str, int]:
    """Subscribed connections of this bus by client name: calls' and the shared one."""
    counts: dict[str, int] = {}
    for c in await client.client_list():
        if c["name"].startswith(bus.client_name) and int(c["sub"]) > 0:
            counts[c["name"]] = counts.get(c["name"], 0) + 1
    return counts


def note(n: int) -> NotificationSent:
    return NotificationSent(kind="test", subject=str(n))


async def test_one_redis_pubsub_connection_multiplexes_all_user_event_subscriptions(
    redis_bus: RedisCommandBus, raw_redis: aioredis.Redis
) -> None:
    """150 pages (more than redis-py's 100-connection pool) of two people, then a call:
    the pages hold one connection between them and the call still subscribes and hears."""
    users = [random.randrange(10**6, 10**9) for _ in range(2)]
    async with contextlib.AsyncExitStack() as pages:
        subscriptions = [
            await pages.enter_async_context(redis_bus.subscribe_events(u))
            for u in users
            for _ in range(75)
        ]
        call_id = new_call_id()
        async with redis_bus.subscribe(call_id) as commands:
            assert await redis_bus.publish(call_id, Hangup(reason="still works")) == 1
            assert await next_of(commands) == Hangup(reason="still works")
            assert await bus_connections(raw_redis, redis_bus) == {
                redis_bus.events_client_name: 1,
                redis_bus.client_name: 1,
            }
        assert await redis_bus.publish_event(users[0], note(1)) == 1
        for subscription in subscriptions[:75]:
            assert await next_of(subscription) == note(1)
        assert await redis_bus.publish_event(users[1], note(2)) == 1
        for subscription in subscriptions[75:]:
            assert await next_of(subscription) == note(2)


async def test_the_last_page_leaving_unsubscribes_its_channel(redis_bus: RedisCommandBus) -> None:
    user = random.randrange(10**6, 10**9)
    async with redis_bus.subscribe_events(user) as first:
        async with redis_bus.subscribe_events(user):
            assert await redis_bus.publish_event(user, note(1)) == 1  # one connection
        assert await redis_bus.publish_event(user, note(2)) == 1
        assert await next_of(first) == note(1)
        assert await next_of(first) == note(2)
    assert await redis_bus.publish_event(user, note(3)) == 0
    with pytest.raises(StopAsyncIteration):
        await next_of(first)
    async with redis_bus.subscribe_events(user) as again:  # the channel can come back
        assert await redis_bus.publish_event(user, note(4)) == 1
        assert await next_of(again) == note(4)


async def test_the_shared_connection_survives_being_killed(
    redis_bus: RedisCommandBus, raw_redis: aioredis.Redis
) -> None:
    user = random.randrange(10**6, 10**9)
    async with redis_bus.subscribe_events(user) as a, redis_bus.subscribe_events(user) as b:
        [connection] = [
            c for c in await raw_redis.client_list() if c["name"] == redis_bus.events_client_name
        ]
        await raw_redis.client_kill_filter(_id=connection["id"])
        for _ in range(250):  # events published while it reconnects are lost
            if await redis_bus.publish_event(user, note(5)) == 1:
                break
            await asyncio.sleep(0.02)
        assert await next_of(a) == note(5)
        assert await next_of(b) == note(5)


async def test_a_silently_dead_shared_link_is_replaced(
    redis_url: str, raw_redis: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    proxy = FreezableProxy(redis_url)
    port = await proxy.start()
    bus = RedisCommandBus(f"redis://127.0.0.1:{port}/15", heartbeat=0.05, timeout=1.0)
    user = random.randrange(10**6, 10**9)
    try:
        async with bus.subscribe_events(user) as events:
            proxy.freeze_current_links()
            for _ in range(100):
                await raw_redis.publish(channels.user_events(user), encode_event(note(6)))
                with contextlib.suppress(TimeoutError):
                    assert await asyncio.wait_for(anext(events), 0.05) == note(6)
                    break
            else:
                pytest.fail("the shared subscription never recovered from the frozen link")
    finally:
        await bus.aclose()
        await proxy.aclose()
    assert [r for r in caplog.records if "shared bus connection lost" in r.getMessage()]


async def test_event_subscriptions_on_unreachable_redis_raise_a_clear_error() -> None:
    bus = RedisCommandBus(closed_port_url(), timeout=1.0)
    try:
        with pytest.raises(CommandBusUnavailable):
            async with bus.subscribe_events(1):
                pass
    finally:
        await bus.aclose()
    with pytest.raises(CommandBusClosed):
        async with bus.subscribe_events(1):
            pass
