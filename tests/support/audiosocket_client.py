"""A fake Asterisk for AudioSocket tests and benchmarks.

It does what app_audiosocket does on the wire: connect, send the UUID frame, send 20 ms
slin frames in real time (or nothing, like a silent callee), and it records every frame
it receives with its monotonic arrival time so tests can measure pacing.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import uuid
from dataclasses import dataclass

from audio_processing.audio_socket_protocol import (
    AudioFrame,
    Frame,
    FrameParser,
    HangupFrame,
    encode_audio,
    encode_dtmf,
    encode_uuid,
    frame_bytes,
    kind_for_rate,
)
from common.owned_tasks import TaskOwner


@dataclass(frozen=True, slots=True)
class Received:
    at: float  # time.monotonic() when the bytes carrying this frame were read
    frame: Frame


class FakeAsterisk:
    def __init__(self, host: str, port: int, sample_rate: int = 8000) -> None:
        self.host = host
        self.port = port
        self.sample_rate = sample_rate
        self.kind = kind_for_rate(sample_rate)
        self.received: list[Received] = []
        self.protocol_error: Exception | None = None
        self.closed_at: float | None = None
        self.connected_at: float | None = None
        self._eof = asyncio.Event()
        self._progress = asyncio.Event()
        self._owner = TaskOwner("fake-asterisk")
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def connect(self, call_id: uuid.UUID | str | None = None, timeout: float = 2.0) -> None:
        """Open the TCP connection and, unless call_id is None, send the UUID frame."""
        async with asyncio.timeout(timeout):
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        self.connected_at = time.monotonic()
        sock = self._writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._owner.spawn(self._read_loop(), name="reader")
        if call_id is not None:
            cid = call_id if isinstance(call_id, uuid.UUID) else uuid.UUID(call_id)
            self.send_raw(encode_uuid(cid))

    def send_raw(self, data: bytes) -> None:
        """One write, as Asterisk does; silently ignored once the server closed."""
        assert self._writer is not None, "connect() first"
        if not self._writer.is_closing():
            self._writer.write(data)

    def send_audio(self, pcm: bytes) -> None:
        self.send_raw(encode_audio(pcm, self.kind))

    def send_dtmf(self, digit: str) -> None:
        self.send_raw(encode_dtmf(digit))

    def send_hangup(self) -> None:
        self.send_raw(b"\x00\x00\x00")

    async def stream(self, pcm: bytes) -> None:
        """Send pcm as 20 ms frames in real time on a monotonic clock (the last one padded)."""
        size = frame_bytes(self.sample_rate)
        due = time.monotonic()
        for start in range(0, len(pcm), size):
            if self._eof.is_set():
                return
            self.send_audio(pcm[start : start + size].ljust(size, b"\x00"))
            due += 0.020
            await asyncio.sleep(max(0.0, due - time.monotonic()))

    async def _read_loop(self) -> None:
        assert self._reader is not None
        parser = FrameParser()
        try:
            while data := await self._reader.read(65_536):
                now = time.monotonic()
                self.received.extend(Received(now, f) for f in parser.feed(data))
                self._progress.set()
        except Exception as exc:  # a malformed server stream is what tests look for
            self.protocol_error = exc
        finally:
            self.closed_at = time.monotonic()
            self._eof.set()
            self._progress.set()

    async def wait_closed(self, timeout: float = 2.0) -> float:
        """Wait for the server to close; returns the monotonic time EOF arrived."""
        async with asyncio.timeout(timeout):
            await self._eof.wait()
        assert self.closed_at is not None
        return self.closed_at

    async def wait_frames(self, count: int, timeout: float = 2.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.received) < count and not self._eof.is_set():
                self._progress.clear()
                await self._progress.wait()

    @property
    def audio(self) -> list[Received]:
        return [r for r in self.received if isinstance(r.frame, AudioFrame)]

    @property
    def got_hangup(self) -> bool:
        return any(isinstance(r.frame, HangupFrame) for r in self.received)

    def audio_bytes(self) -> bytes:
        return b"".join(r.frame.pcm for r in self.audio if isinstance(r.frame, AudioFrame))

    async def close(self) -> None:
        """Close like Asterisk on caller hangup: EOF, no 0x00 first."""
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await self._writer.wait_closed()
        await self._owner.aclose(timeout=1.0)
