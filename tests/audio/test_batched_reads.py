"""Batched reads (issue 16): the kernel gathers a batch of caller frames per read
(SO_RCVLOWAT), on AudioSocket and on the media WebSocket, and a far end that goes quiet
mid-batch loses nothing and waits little.

Real sockets on loopback against the fake Asterisk; the talker stamps each caller frame
with the loop's clock as the server hands it over: frames handed over in one read are
stamped within microseconds of each other, frames read apart 20 ms or more apart.
"""

from __future__ import annotations

import asyncio
import struct
import uuid
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import connect

from audio_processing.audio_socket_server import AudioSocketServer, EndReason
from audio_processing.call_audio import CallAudio, first_batch
from audio_processing.media_websocket_protocol import SUBPROTOCOL
from tests.realtime.bridge_support import until
from tests.support.audiosocket_client import FakeAsterisk
from tests.support.recording_talker import RecordingTalker

HOST = "127.0.0.1"
BATCH = 5
START = (  # what chan_websocket says first (tests/audio/test_media_websocket_server.py)
    "MEDIA_START connection_id:c1 channel:WebSocket/opendeep-media/0x1"
    " format:slin optimal_frame_size:320 ptime:20"
)


def frames(count: int, value: int = 1000) -> list[bytes]:
    """Distinct loud 20 ms slin8 frames."""
    return [struct.pack("<h", value + i) * 160 for i in range(count)]


class StampingTalker(RecordingTalker):
    """Records when (the loop's clock) each caller frame was handed over."""

    def __init__(self) -> None:
        super().__init__()
        self.stamps: list[float] = []

    async def run(self, audio: CallAudio) -> None:
        loop = asyncio.get_running_loop()
        audio.observe_inbound(lambda _pcm: self.stamps.append(loop.time()))
        await super().run(audio)


async def serving(read_batch_frames: int) -> AudioSocketServer:
    server = AudioSocketServer(HOST, 0, stop_grace=1.0, read_batch_frames=read_batch_frames)
    await server.start()
    return server


@pytest.fixture
async def batched() -> AsyncIterator[AudioSocketServer]:
    server = await serving(BATCH)
    yield server
    await server.stop()


async def call(server: AudioSocketServer) -> tuple[FakeAsterisk, StampingTalker, str]:
    call_id = uuid.uuid4()
    talker = StampingTalker()
    expected = server.expect(call_id, talker)
    client = FakeAsterisk(HOST, server.port)
    await client.connect(call_id)
    assert await asyncio.wait_for(expected.connected(), 1.0)
    await asyncio.wait_for(talker.started.wait(), 1.0)
    return client, talker, str(call_id)


def reads(stamps: list[float]) -> list[int]:
    """Frames per read: runs of stamps less than 5 ms apart."""
    sizes: list[int] = []
    for i, stamp in enumerate(stamps):
        if i and stamp - stamps[i - 1] < 0.005:
            sizes[-1] += 1
        else:
            sizes.append(1)
    return sizes


async def test_a_talking_far_end_is_read_a_batch_at_a_time(batched: AudioSocketServer) -> None:
    client, talker, call_id = await call(batched)
    try:
        audio = talker.audio
        assert audio is not None
        assert audio.inbound_hold == pytest.approx((BATCH + 2) * 0.020)
        sent = frames(41)
        await client.stream(b"".join(sent))
        await until(lambda: len(talker.frames) == 41, timeout=3.0)
        assert talker.frames == sent  # nothing lost, nothing reordered
        sizes = reads(talker.stamps)
        # The first read holds the call's own first batch, then whole batches; the last
        # frame, with no batch behind it, is handed over once the far end is quiet.
        assert sizes[0] == first_batch(call_id, BATCH)
        assert sizes[-1] == (41 - sizes[0]) % BATCH or sizes[-1] == BATCH
        assert sum(size == BATCH for size in sizes) >= len(sizes) - 3
        assert len(sizes) <= 41 // BATCH + 3
    finally:
        await client.close()


async def test_the_end_of_a_talk_spurt_is_handed_over_once_the_far_end_is_quiet(
    batched: AudioSocketServer,
) -> None:
    client, talker, call_id = await call(batched)
    try:
        loop = asyncio.get_running_loop()
        lead = first_batch(call_id, BATCH)
        sent = frames(lead + 2)  # the first batch, then two frames of the next
        await client.stream(b"".join(sent))
        last_sent = loop.time()
        await until(lambda: len(talker.frames) == len(sent))
        waited = talker.stamps[-1] - last_sent
        assert talker.frames == sent
        assert waited <= (BATCH + 2) * 0.020 + 0.1  # inbound_hold, and the loop's slack
        # A key pressed while the far end sends no audio is not held for a batch either.
        pressed = loop.time()
        client.send_dtmf("7")
        await until(lambda: talker.digits == ["7"])
        assert loop.time() - pressed <= (BATCH + 2) * 0.020 + 0.1
        # Talking again: batches again.
        await client.stream(b"".join(frames(3 * BATCH)))
        await until(lambda: len(talker.frames) == len(sent) + 3 * BATCH)
        assert BATCH in reads(talker.stamps[len(sent) :])
    finally:
        await client.close()


async def test_a_hangup_mid_batch_ends_the_call_at_once(batched: AudioSocketServer) -> None:
    client, talker, _ = await call(batched)
    loop = asyncio.get_running_loop()
    client.send_audio(frames(1)[0])
    client.send_raw(b"\x00\x00\x00")  # a hangup frame, and the socket stays open
    sent = loop.time()
    await asyncio.wait_for(talker.finished.wait(), 1.0)
    assert loop.time() - sent < (BATCH + 2) * 0.020 + 0.1
    assert talker.audio is not None
    assert talker.audio.end_reason is EndReason.FAR_END_HANGUP
    assert len(talker.frames) == 1
    await client.close()


async def test_one_read_per_frame_when_batching_is_off() -> None:
    server = await serving(1)
    try:
        client, talker, _ = await call(server)
        assert talker.audio is not None
        assert talker.audio.inbound_hold == 0.0
        await client.stream(b"".join(frames(10)))
        await until(lambda: len(talker.frames) == 10)
        assert max(reads(talker.stamps)) <= 2  # a busy loop may join two, no more
        await client.close()
    finally:
        await server.stop()


async def test_the_media_websocket_is_read_a_batch_at_a_time_too(
    batched: AudioSocketServer,
) -> None:
    call_id = uuid.uuid4()
    talker = StampingTalker()
    expected = batched.expect(call_id, talker)
    ws = await connect(
        f"ws://{HOST}:{batched.port}/media?call_id={call_id}", subprotocols=[SUBPROTOCOL]
    )
    try:
        await ws.send(START)
        assert await asyncio.wait_for(expected.connected(), 1.0)
        await asyncio.wait_for(talker.started.wait(), 1.0)
        assert talker.audio is not None
        assert talker.audio.inbound_hold == pytest.approx((BATCH + 2) * 0.020)
        sent = frames(23)
        loop = asyncio.get_running_loop()
        due = loop.time()
        for frame in sent:
            await ws.send(frame)
            due += 0.020
            await asyncio.sleep(max(0.0, due - loop.time()))
        await ws.send("DTMF_END digit:4")  # after the audio, with no audio behind it
        await until(lambda: len(talker.frames) == 23 and talker.digits == ["4"])
        assert talker.frames == sent
        sizes = reads(talker.stamps)
        assert sizes[0] == first_batch(str(call_id), BATCH)
        assert sum(size == BATCH for size in sizes) >= len(sizes) - 3
    finally:
        await ws.close()


async def test_a_call_after_the_last_one_ended_is_watched_too(batched: AudioSocketServer) -> None:
    """The task that hands over a quiet far end's frames ends with the last batched call
    and starts again with the next one."""
    first, talker, _ = await call(batched)
    await first.stream(b"".join(frames(BATCH)))
    await first.close()
    await asyncio.wait_for(talker.finished.wait(), 1.0)
    await asyncio.sleep(0.1)  # several of its ticks with no call
    client, talker, call_id = await call(batched)
    try:
        loop = asyncio.get_running_loop()
        sent = frames(first_batch(call_id, BATCH) + 2)
        await client.stream(b"".join(sent))
        last_sent = loop.time()
        await until(lambda: len(talker.frames) == len(sent))
        assert talker.stamps[-1] - last_sent <= (BATCH + 2) * 0.020 + 0.1
    finally:
        await client.close()
