"""Hostile peers: many connections of random bytes never make an exception escape."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audio_processing.audio_socket_protocol import encode_uuid
from audio_processing.audio_socket_server import AudioSocketServer, EndReason
from tests.support.audiosocket_client import FakeAsterisk
from tests.support.recording_talker import RecordingTalker

HOST = "127.0.0.1"

# (attach as an expected call first?, bytes to send, hang up ourselves afterwards?)
peers = st.lists(st.tuples(st.booleans(), st.binary(max_size=300), st.booleans()), max_size=8)


async def _hostile(server: AudioSocketServer, attach: bool, data: bytes, close: bool) -> Any:
    client = FakeAsterisk(HOST, server.port)
    expected = None
    try:
        await client.connect()
        if attach:
            call_id = uuid.uuid4()
            expected = server.expect(call_id, RecordingTalker())
            client.send_raw(encode_uuid(call_id))
        client.send_raw(data)
        if not close:
            await client.wait_closed(1.0)  # the server must end it (bad bytes or no UUID)
    finally:
        await client.close()
    return expected


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(peers)
async def test_random_bytes_never_escape_and_the_server_keeps_serving(peers_: list) -> None:
    loop_errors: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: loop_errors.append(context))
    server = AudioSocketServer(HOST, 0, idle_timeout=0.2, stop_grace=0.5)
    await server.start()
    try:
        results = await asyncio.gather(*(_hostile(server, *p) for p in peers_))
        for expected in filter(None, results):
            reason = await asyncio.wait_for(expected.ended(), 2.0)
            assert reason in {EndReason.FAR_END_HANGUP, EndReason.PROTOCOL_ERROR, EndReason.STALLED}
        await _serves_a_real_call(server)
    finally:
        await server.stop()
        loop.set_exception_handler(None)
    assert server.internal_errors == 0
    assert loop_errors == []
    assert server.sessions_active == 0


async def _serves_a_real_call(server: AudioSocketServer) -> None:
    call_id = uuid.uuid4()
    talker = RecordingTalker(play=b"\x10\x00" * 160)
    expected = server.expect(call_id, talker)
    client = FakeAsterisk(HOST, server.port)
    try:
        await client.connect(call_id)
        client.send_audio(b"\x01\x00" * 160)
        await client.wait_frames(2)
        assert await expected.connected()
        assert b"\x10\x00" * 160 in [r.frame.pcm for r in client.audio]  # type: ignore[union-attr]
    finally:
        await client.close()
    assert await asyncio.wait_for(expected.ended(), 1.0) == EndReason.FAR_END_HANGUP
    assert talker.frames == [b"\x01\x00" * 160]
