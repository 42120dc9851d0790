"""A bare AudioSocket listener that keeps answered sandbox calls up by sending silence.

Why: AudioSocket hangs a call up after 2 s with no traffic, so AMI tests that need a live
call (PlayDTMF to the IVR) point AUDIOSOCKET_ADDR here. It reads the UUID frame, then
writes 20 ms of 8 kHz slin silence every 20 ms (paced on the monotonic clock) until the
call ends. It is not the product's AudioSocket server, on purpose: no shared code.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import uuid

from common.owned_tasks import TaskOwner
from common.stream_server import StreamServer

KIND_UUID, KIND_AUDIO = 0x01, 0x10
SILENCE = struct.pack(">BH", KIND_AUDIO, 320) + bytes(320)


class SilencePeer:
    def __init__(self) -> None:
        self.call_ids: list[str] = []
        self.port = 0
        self._server = StreamServer(self._call, "silence-peer")
        self._tasks = TaskOwner("silence-peer-readers")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def __aenter__(self) -> SilencePeer:
        await self._server.start()
        self.port = self._server.port
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._server.stop(timeout=2)
        await self._tasks.aclose(timeout=2)

    async def _call(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            kind, length = struct.unpack(">BH", await asyncio.wait_for(reader.readexactly(3), 5))
            payload = await asyncio.wait_for(reader.readexactly(length), 5)
            if kind == KIND_UUID:
                self.call_ids.append(str(uuid.UUID(bytes=payload)))
            drain = self._tasks.spawn(_discard(reader), "discard")
            loop = asyncio.get_running_loop()
            next_at = loop.time()
            while not drain.done():
                writer.write(SILENCE)
                await writer.drain()
                next_at += 0.020
                await asyncio.sleep(max(0.0, next_at - loop.time()))
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass  # the server closes the connection


async def _discard(reader: asyncio.StreamReader) -> None:
    with contextlib.suppress(ConnectionError):
        while await reader.read(4096):
            pass
