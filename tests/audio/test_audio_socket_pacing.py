"""Measured timing of the outbound stream, as the fake Asterisk sees it.

Bounds and why:
- No gap over 40 ms (two frame periods): a larger one is an audible hole and, repeated,
  what lets Asterisk's 2 s inactivity timer or a carrier's RTP timeout fire.
- 90 % of intervals within 20 ms ± 2 ms ("all but a few"): the writer and the fake
  Asterisk share one event loop on a shared 2-core machine. One late wake-up makes two
  intervals wrong (one long, one short), so 15 of 150 intervals off is about 7 hiccups
  in 3 s. Measured on an idle machine: 98-100 % within ±2 ms, p95 deviation 0.7 ms,
  largest gap 23 ms; with one core pinned by a busy loop: 63-85 %, largest gap 26-49 ms,
  i.e. a saturated CPU fails this test, as it would audibly fail a real call.
- The mean interval must stay within 0.5 ms of 20 ms, which catches drift (plain
  sleep(0.02) accumulates the sleep overshoot on every frame).
"""

from __future__ import annotations

import asyncio
import itertools
import struct
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from audio_processing.audio_socket_protocol import AudioFrame, HangupFrame
from audio_processing.audio_socket_server import AudioSocketServer, EndReason
from tests.support.audiosocket_client import FakeAsterisk, Received
from tests.support.recording_talker import RecordingTalker

HOST = "127.0.0.1"


def tone(frames: int) -> bytes:
    return b"".join(struct.pack("<h", 1000 + i) * 160 for i in range(frames))


def voiced(client: FakeAsterisk) -> list[Received]:
    return [r for r in client.audio if isinstance(r.frame, AudioFrame) and any(r.frame.pcm)]


@pytest.fixture
async def server() -> AsyncIterator[AudioSocketServer]:
    srv = AudioSocketServer(HOST, 0)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


@pytest.fixture
async def client(server: AudioSocketServer) -> AsyncIterator[FakeAsterisk]:
    fake = FakeAsterisk(HOST, server.port)
    yield fake
    await fake.close()


async def attach(server: AudioSocketServer, client: FakeAsterisk, talker: RecordingTalker):  # type: ignore[no-untyped-def]
    call_id = uuid.uuid4()
    expected = server.expect(call_id, talker)
    await client.connect(call_id)
    assert await asyncio.wait_for(expected.connected(), 1.0)
    return expected


async def test_a_silent_peer_gets_evenly_paced_silence(server, client) -> None:
    talker = RecordingTalker()
    expected = await attach(server, client, talker)
    await asyncio.sleep(3.0)
    arrivals = [r.at for r in client.audio]
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    on_time = sum(0.018 <= g <= 0.022 for g in gaps) / len(gaps)
    mean = (arrivals[-1] - arrivals[0]) / (len(arrivals) - 1)
    assert len(arrivals) >= 145  # ~150 frames in 3 s
    assert max(gaps) < 0.040, f"largest gap {1000 * max(gaps):.1f} ms"
    assert on_time >= 0.90, f"only {on_time:.1%} of intervals within 20±2 ms"
    assert abs(mean - 0.020) < 0.0005, f"mean interval {1000 * mean:.2f} ms"
    assert voiced(client) == []
    assert expected.end_reason is None  # still up: silence kept it alive
    assert talker.audio is not None
    assert talker.audio.playout.is_idle


async def test_flush_stops_queued_audio_within_40ms(server, client) -> None:
    talker = RecordingTalker(play=tone(100))  # 2 s queued at once
    await attach(server, client, talker)
    await asyncio.sleep(0.3)
    assert talker.audio is not None
    flushed_at = time.monotonic()
    dropped = talker.audio.flush()
    await asyncio.sleep(0.2)
    last_voiced = voiced(client)[-1].at
    assert last_voiced - flushed_at < 0.040
    assert talker.audio.played_ms("play") + dropped == 2000
    assert 1500 <= dropped <= 1800
    silence_after = [r for r in client.audio if r.at > flushed_at + 0.040]
    assert len(silence_after) >= 5  # keep-alive continues after the flush


async def test_drained_resolves_after_the_last_frame_so_hangup_follows_the_audio(
    server, client
) -> None:
    talker = RecordingTalker(play=tone(15), hangup_after_play=True)
    expected = await attach(server, client, talker)
    assert await asyncio.wait_for(expected.ended(), 2.0) == EndReason.LOCAL_HANGUP
    await client.wait_closed(1.0)
    played = voiced(client)
    assert b"".join(r.frame.pcm for r in played) == tone(15)  # type: ignore[union-attr]
    assert played[-1].at - played[0].at >= 14 * 0.020 - 0.010  # paced, not burst
    assert isinstance(client.received[-1].frame, HangupFrame)
    assert client.received[-1].at - played[-1].at < 0.040
