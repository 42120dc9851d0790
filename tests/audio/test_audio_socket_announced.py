"""Inbound calls on the AudioSocket server: an id announced on AMI may attach whichever of
the announcement (`expect`) and the connection comes first; unknown ids are still refused,
after a bounded wait, and counted. Over real sockets, with the fake Asterisk."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from audio_processing.audio_socket_protocol import encode_uuid
from audio_processing.audio_socket_server import AudioSocketServer, EndReason
from tests.support.audiosocket_client import FakeAsterisk
from tests.support.recording_talker import RecordingTalker

HOST = "127.0.0.1"
WAIT = 0.3  # announce_wait of the server under test
CLOSE_BOUND = 0.100


@pytest.fixture
async def server() -> AsyncIterator[AudioSocketServer]:
    srv = AudioSocketServer(HOST, 0, stop_grace=1.0, announce_wait=WAIT)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


@pytest.fixture
async def clients() -> AsyncIterator[list[FakeAsterisk]]:
    made: list[FakeAsterisk] = []
    yield made
    for client in made:
        await client.close()


async def connect(
    server: AudioSocketServer, clients: list[FakeAsterisk], call_id: uuid.UUID | None
) -> FakeAsterisk:
    client = FakeAsterisk(HOST, server.port)
    clients.append(client)
    await client.connect(call_id)
    return client


async def test_announced_before_the_connection_attaches(server, clients) -> None:
    call_id = uuid.uuid4()
    talker = RecordingTalker()
    expected = server.expect(call_id, talker)
    client = await connect(server, clients, call_id)
    assert await asyncio.wait_for(expected.connected(), 1.0)
    client.send_audio(bytes(320))
    await asyncio.wait_for(talker.started.wait(), 1.0)
    await client.wait_frames(3)  # the paced writer runs: the line is live
    assert server.rejected_connections == 0
    assert server.sessions_active == 1


async def test_connection_before_its_announcement_waits_and_attaches(server, clients) -> None:
    call_id = uuid.uuid4()
    client = await connect(server, clients, call_id)
    await asyncio.sleep(WAIT / 3)  # the UUID is in; the announcement is late
    assert client.closed_at is None
    assert client.received == []  # held: nothing is written before it attaches
    talker = RecordingTalker()
    announced_at = time.monotonic()
    expected = server.expect(call_id, talker)
    assert await asyncio.wait_for(expected.connected(), 1.0)
    await client.wait_frames(3)
    assert client.received[0].at >= announced_at
    assert server.rejected_connections == 0
    client.send_hangup()
    assert await asyncio.wait_for(expected.ended(), 1.0) == EndReason.FAR_END_HANGUP
    assert talker.finished.is_set()


async def test_an_unknown_id_is_refused_once_the_wait_is_over_and_counted(server, clients) -> None:
    client = await connect(server, clients, None)
    sent_at = time.monotonic()
    client.send_raw(encode_uuid(uuid.uuid4()))
    closed_at = await client.wait_closed(WAIT + 1.0)
    assert WAIT - 0.02 <= closed_at - sent_at < WAIT + CLOSE_BOUND
    assert client.audio == []
    assert server.rejections == {"unannounced_call_id": 1}
    assert server.sessions_total == 0


async def test_an_id_announced_after_the_wait_never_attaches(server, clients) -> None:
    call_id = uuid.uuid4()
    client = await connect(server, clients, call_id)
    await client.wait_closed(WAIT + 1.0)
    expected = server.expect(call_id, RecordingTalker())
    assert not expected.attached
    assert server.forget(call_id)
    assert await expected.ended() == EndReason.FORGOTTEN
    assert server.rejections == {"unannounced_call_id": 1}


async def test_a_second_connection_for_an_id_already_waiting_is_refused_at_once(
    server, clients
) -> None:
    call_id = uuid.uuid4()
    first = await connect(server, clients, call_id)
    await asyncio.sleep(0.02)
    second = await connect(server, clients, None)
    sent_at = time.monotonic()
    second.send_raw(encode_uuid(call_id))
    assert await second.wait_closed(1.0) - sent_at < CLOSE_BOUND
    expected = server.expect(call_id, RecordingTalker())  # the first one attaches
    assert await asyncio.wait_for(expected.connected(), 1.0)
    assert first.closed_at is None
    assert server.rejections == {"already_waiting": 1}


async def test_past_the_held_limit_unknown_ids_are_refused_at_once(clients) -> None:
    srv = AudioSocketServer(HOST, 0, announce_wait=2.0, max_unannounced=3)
    await srv.start()
    try:
        held = [await connect(srv, clients, uuid.uuid4()) for _ in range(3)]
        await asyncio.sleep(0.05)
        extra = await connect(srv, clients, None)
        sent_at = time.monotonic()
        extra.send_raw(encode_uuid(uuid.uuid4()))
        assert await extra.wait_closed(1.0) - sent_at < CLOSE_BOUND
        assert srv.rejections == {"too_many_unannounced": 1}
        assert all(client.closed_at is None for client in held)
        # a call we expect is not held and attaches meanwhile
        known = uuid.uuid4()
        expected = srv.expect(known, RecordingTalker())
        await connect(srv, clients, known)
        assert await asyncio.wait_for(expected.connected(), 1.0)
    finally:
        await srv.stop()


async def test_stopping_the_server_refuses_held_connections(clients) -> None:
    srv = AudioSocketServer(HOST, 0, announce_wait=5.0, stop_grace=1.0)
    await srv.start()
    held = await connect(srv, clients, uuid.uuid4())
    await asyncio.sleep(0.05)
    stop_at = time.monotonic()
    await srv.stop()
    assert await held.wait_closed(1.0) - stop_at < CLOSE_BOUND
    assert held.audio == []
    assert srv.rejections == {"server_stopping": 1}
