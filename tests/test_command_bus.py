"""One contract suite for both command buses (in-process and real Redis), then Redis specifics."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis.asyncio as aioredis

from common import channels
from common.command_bus import (
    CommandBus,
    CommandBusClosed,
    CommandBusUnavailable,
    InProcessCommandBus,
    RedisCommandBus,
    Subscription,
    create_command_bus,
)
from common.commands import FeedbackAnswer, Hangup, SendDtmf, Transfer, encode_command
from common.events import CallStatusChanged
from common.stream_server import StreamServer, close_writer

WAIT = 5.0  # upper bound for a message to arrive; never reached when things work


async def next_of(subscription: Subscription[Any]) -> Any:
    return await asyncio.wait_for(anext(subscription), WAIT)


def new_call_id() -> str:
    return f"test-{uuid.uuid4()}"


@pytest.fixture(params=["in_process", "redis"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[CommandBus]:
    if request.param == "redis":
        made: CommandBus = RedisCommandBus(request.getfixturevalue("redis_url"))
    else:
        made = InProcessCommandBus()
    yield made
    await made.aclose()


@pytest.fixture
async def raw_redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def test_commands_arrive_in_order(bus: CommandBus) -> None:
    call_id = new_call_id()
    sent = [SendDtmf(digits=f"{i}#") for i in range(10)] + [
        Transfer(target="PJSIP/100@trunk"),
        FeedbackAnswer(request_id=3, answer="Tuesday works"),
        Hangup(),
    ]
    async with bus.subscribe(call_id) as subscription:
        for command in sent:
            assert await bus.publish(call_id, command) == 1
        received = [await next_of(subscription) for _ in sent]
    assert received == sent


async def test_calls_are_isolated(bus: CommandBus) -> None:
    first, second = new_call_id(), new_call_id()
    async with bus.subscribe(first) as one, bus.subscribe(second) as two:
        await bus.publish(first, SendDtmf(digits="1"))
        await bus.publish(second, SendDtmf(digits="2"))
        await bus.publish(first, Hangup(reason="marker"))
        assert await next_of(one) == SendDtmf(digits="1")
        assert await next_of(one) == Hangup(reason="marker")
        assert await next_of(two) == SendDtmf(digits="2")


async def test_every_subscriber_gets_every_command(bus: CommandBus) -> None:
    call_id = new_call_id()
    sent = [SendDtmf(digits="12"), Hangup()]
    async with bus.subscribe(call_id) as one, bus.subscribe(call_id) as two:
        for command in sent:
            assert await bus.publish(call_id, command) == 2
        assert [await next_of(one) for _ in sent] == sent
        assert [await next_of(two) for _ in sent] == sent


async def test_leaving_a_subscription_stops_delivery(bus: CommandBus) -> None:
    call_id = new_call_id()
    async with bus.subscribe(call_id) as subscription:
        assert await bus.publish(call_id, Hangup()) == 1
        assert await next_of(subscription) == Hangup()
    assert await bus.publish(call_id, Hangup()) == 0
    with pytest.raises(StopAsyncIteration):
        await next_of(subscription)


async def garbage(bus: CommandBus, channel: str, payload: dict[str, Any]) -> None:
    """What a broken or hostile publisher could put on a channel: JSON that is not ours."""
    assert isinstance(bus, InProcessCommandBus | RedisCommandBus)
    await bus._publish_raw(channel, json.dumps(payload).encode())


async def test_publish_without_subscriber_returns_zero(bus: CommandBus) -> None:
    assert await bus.publish(new_call_id(), SendDtmf(digits="9")) == 0


async def test_malformed_command_is_dropped_and_the_next_arrives(bus: CommandBus) -> None:
    call_id = new_call_id()
    channel = channels.call_commands(call_id)
    async with bus.subscribe(call_id) as subscription:
        await garbage(bus, channel, {"type": "self_destruct"})
        await garbage(bus, channel, {"type": "send_dtmf", "digits": "not digits"})
        await bus.publish(call_id, Hangup(reason="after garbage"))
        assert await next_of(subscription) == Hangup(reason="after garbage")


async def test_aclose_ends_subscriptions_and_refuses_more(bus: CommandBus) -> None:
    call_id = new_call_id()
    received: list[Any] = []

    async def consume() -> None:
        async with bus.subscribe(call_id) as subscription:
            ready.set()
            async for command in subscription:
                received.append(command)

    ready = asyncio.Event()
    consumer = asyncio.create_task(consume(), name="test:consumer")
    await asyncio.wait_for(ready.wait(), WAIT)
    await bus.publish(call_id, Hangup())
    await bus.aclose()
    await asyncio.wait_for(consumer, WAIT)  # the async for ended by itself
    assert received in ([], [Hangup()])  # delivered or not: at-most-once on close
    with pytest.raises(CommandBusClosed):
        await bus.publish(call_id, Hangup())
    with pytest.raises(CommandBusClosed):
        async with bus.subscribe(call_id):
            pass


async def test_live_events_round_trip_typed(bus: CommandBus) -> None:
    user_id = random.randrange(10**6, 10**9)
    event = CallStatusChanged(call_id="c1", status="ringing")
    async with bus.subscribe_events(user_id) as subscription:
        assert await bus.publish_event(user_id, event) == 1
        await garbage(bus, channels.user_events(user_id), {"type": "call_status"})
        assert await bus.publish_event(user_id, event) == 1
        assert await next_of(subscription) == event
        assert await next_of(subscription) == event  # the malformed one was dropped


# --- Redis specifics -------------------------------------------------------------------


@pytest.fixture
async def redis_bus(redis_url: str) -> AsyncIterator[RedisCommandBus]:
    made = RedisCommandBus(redis_url, heartbeat=0.05)
    yield made
    await made.aclose()


async def subscribed_connections(client: aioredis.Redis, name: str) -> list[dict[str, Any]]:
    return [c for c in await client.client_list() if c["name"] == name and int(c["sub"]) > 0]


async def test_raw_garbage_on_the_channel_is_dropped(
    redis_bus: RedisCommandBus, raw_redis: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    call_id = new_call_id()
    async with redis_bus.subscribe(call_id) as subscription:
        for garbage in (b"\xff\xfe", b"[1, 2", b"null", b'{"type": "hangup", "reason": ""}'):
            assert await raw_redis.publish(channels.call_commands(call_id), garbage) == 1
        await redis_bus.publish(call_id, SendDtmf(digits="5"))
        assert await next_of(subscription) == SendDtmf(digits="5")
    dropped = [r for r in caplog.records if r.getMessage() == "dropped a malformed bus message"]
    assert len(dropped) == 4


async def test_leaving_closes_the_pubsub_connection(
    redis_bus: RedisCommandBus, raw_redis: aioredis.Redis
) -> None:
    async with redis_bus.subscribe(new_call_id()), redis_bus.subscribe(new_call_id()):
        assert len(await subscribed_connections(raw_redis, redis_bus.client_name)) == 2
    assert await subscribed_connections(raw_redis, redis_bus.client_name) == []


async def test_idle_subscription_stays_connected_through_heartbeats(
    redis_bus: RedisCommandBus, raw_redis: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    call_id = new_call_id()
    async with redis_bus.subscribe(call_id) as subscription:
        await asyncio.sleep(0.5)  # ten heartbeats with nothing to read
        assert await redis_bus.publish(call_id, Hangup()) == 1
        assert await next_of(subscription) == Hangup()
        [connection] = await subscribed_connections(raw_redis, redis_bus.client_name)
        assert "ping" in connection["cmd"]  # the heartbeat went over the wire
    assert not [r for r in caplog.records if "reconnecting" in r.getMessage()]


async def test_subscription_survives_a_killed_connection(
    redis_bus: RedisCommandBus, raw_redis: aioredis.Redis
) -> None:
    call_id = new_call_id()
    async with redis_bus.subscribe(call_id) as subscription:
        [connection] = await subscribed_connections(raw_redis, redis_bus.client_name)
        await raw_redis.client_kill_filter(_id=connection["id"])
        # Commands published while it reconnects are lost (at-most-once); keep sending.
        for _ in range(250):
            if await redis_bus.publish(call_id, Hangup(reason="again")) == 1:
                break
            await asyncio.sleep(0.02)
        assert await next_of(subscription) == Hangup(reason="again")


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


async def test_unreachable_redis_raises_a_clear_error() -> None:
    bus = RedisCommandBus(closed_port_url(), timeout=1.0)
    try:
        with pytest.raises(CommandBusUnavailable):
            await bus.publish(new_call_id(), Hangup())
        with pytest.raises(CommandBusUnavailable):
            async with bus.subscribe(new_call_id()):
                pass
    finally:
        await bus.aclose()


async def test_factory_picks_the_transport(redis_url: str) -> None:
    in_process = create_command_bus(None)
    on_redis = create_command_bus(redis_url)
    try:
        assert isinstance(in_process, InProcessCommandBus)
        assert isinstance(on_redis, RedisCommandBus)
    finally:
        await in_process.aclose()
        await on_redis.aclose()


async def test_malformed_message_is_logged_without_its_content(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = InProcessCommandBus()
    call_id = new_call_id()
    with caplog.at_level(logging.WARNING):
        async with bus.subscribe(call_id) as subscription:
            await garbage(
                bus, channels.call_commands(call_id), {"type": "send_dtmf", "digits": "5551234x"}
            )
            await bus.publish(call_id, Hangup())
            assert await next_of(subscription) == Hangup()
    [record] = [r for r in caplog.records if r.name == "common.command_bus"]
    assert "555" not in record.getMessage() + str(record.__dict__.get("error"))
    await bus.aclose()


class FreezableProxy:
    """A TCP proxy to Redis whose current links can be frozen: bytes stop flowing but the
    sockets stay open, like a peer that vanished without a FIN or RST."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 6379)
        self._links: list[dict[str, bool]] = []
        self._server = StreamServer(self._handle, "freezable-proxy")

    async def start(self) -> int:
        await self._server.start()
        return self._server.port

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        link = {"frozen": False}
        self._links.append(link)
        try:
            await asyncio.gather(
                self._pipe(reader, up_writer, link),
                self._pipe(up_reader, writer, link),
                return_exceptions=True,
            )
        finally:
            await close_writer(up_writer)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: dict[str, bool]
    ) -> None:
        while data := await reader.read(65536):
            if not link["frozen"]:
                writer.write(data)
                await writer.drain()
        writer.close()

    def freeze_current_links(self) -> None:
        for link in self._links:
            link["frozen"] = True

    async def aclose(self) -> None:
        await self._server.stop()


async def test_a_silently_dead_link_is_detected_and_replaced(
    redis_url: str, raw_redis: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    proxy = FreezableProxy(redis_url)
    port = await proxy.start()
    bus = RedisCommandBus(f"redis://127.0.0.1:{port}/15", heartbeat=0.05, timeout=1.0)
    call_id = new_call_id()
    try:
        async with bus.subscribe(call_id) as subscription:
            proxy.freeze_current_links()
            # Published straight to Redis: delivered once the bus has a live link again.
            for _ in range(100):
                await raw_redis.publish(channels.call_commands(call_id), encode_command(Hangup()))
                with contextlib.suppress(TimeoutError):
                    assert await asyncio.wait_for(anext(subscription), 0.05) == Hangup()
                    break
            else:
                pytest.fail("the subscription never recovered from the frozen link")
    finally:
        await bus.aclose()
        await proxy.aclose()
    assert [r for r in caplog.records if r.getMessage() == "bus subscription lost; reconnecting"]
