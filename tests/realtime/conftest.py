"""Fixtures for the realtime tests: the strict fake server, an SDK client, a paced call."""

from __future__ import annotations

import asyncio
import math
import struct
from collections.abc import AsyncIterator

import pytest
from openai import AsyncOpenAI

from audio_processing.call_audio import CallAudio, CallMetadata
from audio_processing.g711 import slin_to_ulaw
from audio_processing.playout import PacedWriter, PlayoutQueue
from audio_processing.realtime.session import RealtimeSession
from audio_processing.realtime.session_config import build_session_config
from launcher.openai_clients import realtime_client
from tests.support.fake_realtime import FakeRealtimeServer

FRAME = 320  # 20 ms of slin8
SILENCE = bytes(FRAME)


def tone(ms: int, amplitude: int = 6000, freq: float = 440.0, rate: int = 8000) -> bytes:
    """A sine wave, 16-bit little-endian slin."""
    n = rate * ms // 1000
    return struct.pack(
        f"<{n}h", *(int(amplitude * math.sin(2 * math.pi * freq * i / rate)) for i in range(n))
    )


def voice(ms: int, amplitude: int = 6000, rate: int = 8000) -> bytes:
    """A stand-in for speech: loud like a voice, never one steady pitch. Its pitch glides
    between 200 and 700 Hz (up and down every 200 ms), so no two frames share a note: a
    steady tone() of 150 ms or more is a voicemail beep to the call's beep detector."""
    n = rate * ms // 1000
    phase, samples = 0.0, []
    for i in range(n):
        t = (i % (rate // 5)) / (rate // 5)  # 0..1 over 200 ms
        hz = 200 + 500 * (2 * t if t < 0.5 else 2 - 2 * t)
        phase += 2 * math.pi * hz / rate
        samples.append(int(amplitude * math.sin(phase)))
    return struct.pack(f"<{n}h", *samples)


def ulaw_tone(ms: int) -> bytes:
    return slin_to_ulaw(tone(ms))


class PacedCall:
    """A real CallAudio + PlayoutQueue + PacedWriter whose 'socket' records payloads."""

    def __init__(self, call_id: str = "call-test") -> None:
        self.playout = PlayoutQueue(8000)
        self.audio = CallAudio(CallMetadata(call_id), self.playout)
        self.written: list[tuple[float, bytes]] = []
        self.writer = PacedWriter(self.playout, self._send)
        self._task: asyncio.Task[None] | None = None

    def _send(self, wire: bytes) -> None:
        self.written.append((asyncio.get_running_loop().time(), wire[3:]))

    def voiced(self) -> list[tuple[float, bytes]]:
        return [(t, p) for t, p in self.written if p != SILENCE]

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.writer.run(), name="paced-writer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def feed(self, pcm: bytes, interval: float = 0.02) -> None:
        """Push caller audio frame by frame, like the AudioSocket server does."""
        for start in range(0, len(pcm), FRAME):
            self.audio.push_inbound(pcm[start : start + FRAME])
            await asyncio.sleep(interval)


@pytest.fixture
async def fake() -> AsyncIterator[FakeRealtimeServer]:
    async with FakeRealtimeServer() as server:
        yield server


@pytest.fixture
async def client(fake: FakeRealtimeServer) -> AsyncIterator[AsyncOpenAI]:
    c = realtime_client("test-key", fake.base_url)
    yield c
    await c.close()


@pytest.fixture
async def call() -> AsyncIterator[PacedCall]:
    paced = PacedCall()
    paced.start()
    yield paced
    await paced.stop()


def session_for(client: AsyncOpenAI, **config: object) -> RealtimeSession:
    cfg = build_session_config(model="gpt-realtime", instructions="Be brief.", **config)  # type: ignore[arg-type]
    return RealtimeSession(client, cfg, connect_timeout=3, configure_timeout=3)
