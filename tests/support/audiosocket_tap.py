"""A TCP tap between Asterisk and the AudioSocket server: what the platform wrote to each
call, frame by frame, with the time each frame left.

Why on the wire: barge-in and first-frame latency matter where the callee hears them, in
the stream to Asterisk, not inside the bridge; and a tap needs no test-only seam in the
product. Asterisk is pointed at the tap (the originate's AUDIOSOCKET_ADDR), the tap
forwards both ways untouched and parses a copy of what the server sends.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from audio_processing.audio_socket_protocol import AudioFrame, FrameParser, UuidFrame
from common.stream_server import StreamServer, close_writer

READ_SIZE = 65_536


@dataclass(frozen=True)
class Written:
    """One frame the platform wrote to the call (audio: voiced or silence)."""

    at: float  # time.monotonic() when it reached the tap; the fake model stamps the same clock
    voiced: bool


@dataclass
class TappedCall:
    """One call's AudioSocket connection as the tap saw it."""

    connected_at: float | None = None  # Asterisk's TCP connection arrived
    forwarded_at: float | None = None  # its UUID reached the server (see first_bytes_delay)
    frames: list[Written] = field(default_factory=list)

    def voiced(self, before: float = float("inf"), after: float = 0.0) -> list[Written]:
        return [f for f in self.frames if f.voiced and after <= f.at < before]


class AudioSocketTap:
    """Listens on `port`; each connection is forwarded to the server at `target`."""

    def __init__(self, target_port: int, host: str = "127.0.0.1") -> None:
        self.host, self.target_port = host, target_port
        self.first_bytes_delay = 0.0  # hold each new connection back from the server this long
        self.port = 0
        self._calls: dict[str, TappedCall] = {}
        self._server = StreamServer(self._forward, "audiosocket-tap", host)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def call(self, call_id: str) -> TappedCall:
        """The call's record, also before it connected (it fills in when it does)."""
        return self._calls.setdefault(call_id, TappedCall())

    async def start(self) -> None:
        await self._server.start()
        self.port = self._server.port

    async def aclose(self) -> None:
        await self._server.stop(timeout=2.0)

    async def _forward(
        self, asterisk: asyncio.StreamReader, to_asterisk: asyncio.StreamWriter
    ) -> None:
        """One call; the server closes `to_asterisk` when this returns."""
        at = time.monotonic()
        if self.first_bytes_delay:  # e.g. so that an inbound call's announcement comes first
            await asyncio.sleep(self.first_bytes_delay)
        server, to_server = await asyncio.open_connection(self.host, self.target_port)
        try:
            call = await self._first_bytes(asterisk, to_server, at)
            async with asyncio.TaskGroup() as both:
                both.create_task(_pipe(asterisk, to_server))
                both.create_task(self._pipe_recorded(server, to_asterisk, call))
        except* OSError:
            pass  # either side went away mid-write: the call is over
        finally:
            await close_writer(to_server)

    async def _first_bytes(
        self, asterisk: asyncio.StreamReader, to_server: asyncio.StreamWriter, at: float
    ) -> TappedCall:
        """Asterisk's UUID frame names the call; it is forwarded like everything else."""
        parser = FrameParser()
        while True:
            data = await asterisk.read(READ_SIZE)
            if not data:
                raise ConnectionError("asterisk left before its UUID frame")
            to_server.write(data)
            uuids = [f for f in parser.feed(data) if isinstance(f, UuidFrame)]
            if uuids:
                call = self.call(str(uuids[0].call_id))
                call.connected_at, call.forwarded_at = at, time.monotonic()
                return call

    async def _pipe_recorded(
        self, server: asyncio.StreamReader, to_asterisk: asyncio.StreamWriter, call: TappedCall
    ) -> None:
        parser = FrameParser()
        while data := await server.read(READ_SIZE):
            now = time.monotonic()
            to_asterisk.write(data)
            for frame in parser.feed(data):
                if isinstance(frame, AudioFrame):
                    call.frames.append(Written(now, any(frame.pcm)))
            await to_asterisk.drain()
        to_asterisk.write_eof()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(READ_SIZE):
        writer.write(data)
        await writer.drain()
    writer.write_eof()
