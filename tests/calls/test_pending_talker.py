"""PendingTalker on a real AudioSocket session: silence until the real talker arrives (what
the caller said meanwhile is not replayed to it), or a hangup when it never does."""

from __future__ import annotations

import asyncio
import struct
import uuid
from collections.abc import AsyncIterator

import pytest

from audio_processing.audio_socket_protocol import HangupFrame
from audio_processing.audio_socket_server import AudioSocketServer, EndReason
from call_processor.pending_talker import PendingTalker
from tests.calls.conftest import ClosableRecorder
from tests.support.audiosocket_client import FakeAsterisk

HOST = "127.0.0.1"


@pytest.fixture
async def server() -> AsyncIterator[AudioSocketServer]:
    srv = AudioSocketServer(HOST, 0, stop_grace=1.0)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


async def attached(
    server: AudioSocketServer, pending: PendingTalker
) -> tuple[FakeAsterisk, asyncio.Future[EndReason]]:
    call_id = uuid.uuid4()
    expected = server.expect(call_id, pending)
    client = FakeAsterisk(HOST, server.port)
    await client.connect(call_id)
    assert await asyncio.wait_for(expected.connected(), 1.0)
    return client, asyncio.ensure_future(expected.ended())


def frame(value: int) -> bytes:
    return struct.pack("<h", value) * 160


async def test_silence_until_the_talker_arrives_which_hears_only_what_comes_after(
    server,
) -> None:
    pending = PendingTalker()
    client, ended = await attached(server, pending)
    try:
        client.send_audio(frame(1000))  # the caller speaks before anyone listens
        await client.wait_frames(5)  # the line is kept alive meanwhile
        assert all(not any(r.frame.pcm) for r in client.audio)
        talker = ClosableRecorder(play=frame(3000))
        assert pending.resolve(talker)
        assert not pending.resolve(None)  # settled once
        await asyncio.wait_for(talker.started.wait(), 1.0)
        client.send_audio(frame(2000))
        await client.wait_frames(len(client.received) + 5)
        assert talker.frames[:1] == [frame(2000)]  # the stale frame was not replayed
        assert any(r.frame.pcm == frame(3000) for r in client.audio)
        client.send_hangup()
        assert await asyncio.wait_for(ended, 1.0) == EndReason.FAR_END_HANGUP
        await pending.aclose()
        assert talker.closed == 1
    finally:
        await client.close()


async def test_refused_ends_the_call_with_a_hangup(server) -> None:
    pending = PendingTalker()
    client, ended = await attached(server, pending)
    try:
        pending.resolve(None)
        assert await asyncio.wait_for(ended, 1.0) == EndReason.TALKER_FINISHED
        await client.wait_closed(1.0)
        assert isinstance(client.received[-1].frame, HangupFrame)
        assert pending.result() is None
    finally:
        await client.close()


async def test_no_talker_in_time_ends_the_call(server) -> None:
    pending = PendingTalker(wait=0.2)
    client, ended = await attached(server, pending)
    try:
        assert await asyncio.wait_for(ended, 1.0) == EndReason.TALKER_FINISHED
        late = ClosableRecorder()
        assert not pending.resolve(late)  # too late: the caller closes what it made
    finally:
        await client.close()
