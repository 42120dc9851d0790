"""The media server on the chan_websocket wire, against a client that behaves like Asterisk:
attach by call_id, audio sent ahead in chunks, FLUSH_MEDIA on barge-in, HANGUP, refusals."""

from __future__ import annotations

import asyncio
import struct
import uuid
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from audio_processing.audio_socket_server import AudioSocketServer, EndReason
from audio_processing.media_websocket_protocol import SUBPROTOCOL
from tests.support.recording_talker import RecordingTalker

HOST = "127.0.0.1"
START = (
    "MEDIA_START connection_id:c1 channel:WebSocket/opendeep-media/0x1"
    " format:slin optimal_frame_size:320 ptime:20"
)


def tone(frames: int, value: int = 1000) -> bytes:
    return b"".join(struct.pack("<h", value + i) * 160 for i in range(frames))


@pytest.fixture
async def server() -> AsyncIterator[AudioSocketServer]:
    srv = AudioSocketServer(HOST, 0, stop_grace=1.0)  # the default codec: either wire
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


async def asterisk(server: AudioSocketServer, call_id: uuid.UUID) -> ClientConnection:
    """What chan_websocket does for Dial(WebSocket/<client>/c(slin)v(call_id=...))."""
    ws = await connect(
        f"ws://{HOST}:{server.port}/media?call_id={call_id}", subprotocols=[SUBPROTOCOL]
    )
    await ws.send(START)
    return ws


async def receive_until(
    ws: ClientConnection, audio_bytes: int, timeout: float = 2.0
) -> list[bytes | str]:
    got: list[bytes | str] = []
    async with asyncio.timeout(timeout):
        while sum(len(m) for m in got if isinstance(m, bytes)) < audio_bytes:
            got.append(await ws.recv())
    return got


async def until_closed(ws: ClientConnection) -> list[bytes | str]:
    """Every message until the server closes the socket (within 2 s)."""
    got: list[bytes | str] = []
    async with asyncio.timeout(2.0):
        try:
            while True:
                got.append(await ws.recv())
        except ConnectionClosed:
            return got


async def test_audio_goes_ahead_in_chunks_and_is_counted_played_on_the_callees_time(
    server,
) -> None:
    call_id = uuid.uuid4()
    talker = RecordingTalker(play=tone(50))  # one second
    expected = server.expect(call_id, talker)
    ws = await asterisk(server, call_id)
    assert await asyncio.wait_for(expected.connected(), 1.0)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    chunks = await receive_until(ws, len(tone(50)))
    arrived = loop.time() - t0
    assert b"".join(c for c in chunks if isinstance(c, bytes)) == tone(50)
    assert len(chunks) <= 3, "a second of audio should leave in one or two messages"
    assert arrived < 0.5, "sent ahead, not paced at 20 ms"
    assert talker.audio is not None
    assert talker.audio.played_ms("play") < 1000  # the callee has not heard it all yet
    await asyncio.wait_for(talker.audio.drained(), 2.0)
    assert talker.audio.played_ms("play") == 1000
    for i in range(5):
        await ws.send(tone(1, value=3000 + i))
    await ws.send("DTMF_END digit:5")
    await ws.close()
    assert await asyncio.wait_for(expected.ended(), 2.0) is EndReason.FAR_END_HANGUP
    await asyncio.wait_for(talker.finished.wait(), 1.0)
    assert talker.frames == [tone(1, value=3000 + i) for i in range(5)]
    assert talker.digits == ["5"]


async def test_barge_in_flush_reaches_asterisk_as_flush_media(server) -> None:
    call_id = uuid.uuid4()
    talker = RecordingTalker(play=tone(150))  # three seconds
    expected = server.expect(call_id, talker)
    ws = await asterisk(server, call_id)
    assert await asyncio.wait_for(expected.connected(), 1.0)
    await receive_until(ws, 320 * 100)
    assert talker.audio is not None
    dropped = talker.audio.flush()
    assert dropped > 0
    async with asyncio.timeout(1.0):
        while (message := await ws.recv()) != "FLUSH_MEDIA":
            assert isinstance(message, bytes)
    assert talker.audio.played_ms("play") < 3000
    await ws.close()


async def test_a_local_hangup_sends_hangup_and_closes(server) -> None:
    call_id = uuid.uuid4()
    talker = RecordingTalker(play=tone(5), hangup_after_play=True)
    expected = server.expect(call_id, talker)
    ws = await asterisk(server, call_id)
    got = await until_closed(ws)
    assert got[-1] == "HANGUP"
    assert b"".join(m for m in got if isinstance(m, bytes)) == tone(5)
    assert ws.close_code == 1000
    assert await asyncio.wait_for(expected.ended(), 1.0) is EndReason.LOCAL_HANGUP


async def test_a_call_we_did_not_originate_is_closed(server) -> None:
    ws = await asterisk(server, uuid.uuid4())
    with pytest.raises(ConnectionClosed):
        async with asyncio.timeout(2.0):
            await ws.recv()
    assert server.rejected_connections == 1
    assert server.sessions_total == 0


async def test_no_call_id_is_refused_at_the_handshake(server) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await connect(f"ws://{HOST}:{server.port}/media", subprotocols=[SUBPROTOCOL])
    assert refused.value.response.status_code == 400
    assert server.sessions_total == 0


async def test_a_format_that_is_not_the_calls_ends_it_as_a_protocol_error(server) -> None:
    call_id = uuid.uuid4()
    expected = server.expect(call_id, RecordingTalker())
    ws = await connect(
        f"ws://{HOST}:{server.port}/media?call_id={call_id}", subprotocols=[SUBPROTOCOL]
    )
    await ws.send("MEDIA_START connection_id:c1 format:ulaw optimal_frame_size:160 ptime:20")
    assert await asyncio.wait_for(expected.ended(), 2.0) is EndReason.PROTOCOL_ERROR
    assert server.protocol_errors == 1
    await ws.close()
