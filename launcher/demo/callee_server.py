"""The demo callees' AudioSocket server: where the sandbox's far end hands each demo call.

On the sandbox line a demo call is a real SIP call: OpenDeep originates it through the
sandbox's loopback trunk, and the far end (extension 216 in asterisk/sandbox/conf/
extensions.conf) answers and runs AudioSocket() towards this server. Asterisk sends the
UUID first (docs/protocols.md, AudioSocket); the far end puts the callee's number in it
(sandbox_line.number_in_call_id), so this server knows who answers and runs the same
callee script as the simulated line (callee_call.py). Listens on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import logging

from audio_processing.audio_socket_protocol import FrameParser, ProtocolError, UuidFrame
from common.stream_server import StreamServer
from launcher.demo.callee_call import CalleeCall
from launcher.demo.callees import by_number
from launcher.demo.sandbox_line import number_in_call_id

log = logging.getLogger(__name__)
HEADER_BYTES = 3  # kind (1) and payload length (2)
FIRST_FRAME_TIMEOUT = 2.0


class CalleeServer:
    """`async with CalleeServer() as server:` then dial `server.port` into the far end."""

    def __init__(self) -> None:
        self.port = 0
        self.calls: set[CalleeCall] = set()
        self._server = StreamServer(self._answer, "demo-callees")

    async def start(self) -> None:
        await self._server.start()
        self.port = self._server.port
        log.info("demo callee server listening", extra={"audiosocket_port": self.port})

    async def stop(self) -> None:
        for call in self.calls:
            call.hang_up()
        await self._server.stop(timeout=3.0)

    async def __aenter__(self) -> CalleeServer:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            number = await _first_frame_number(reader)
        except (ProtocolError, ValueError, TimeoutError, asyncio.IncompleteReadError) as exc:
            log.warning("demo callee server: not a demo call", extra={"error": str(exc)})
            return
        callee = by_number(number)
        log.info("demo callee answers", extra={"callee": callee.key, "number": number})
        call = CalleeCall(callee, number)
        self.calls.add(call)
        try:
            await call.run(reader, writer)
        finally:
            self.calls.discard(call)


async def _first_frame_number(reader: asyncio.StreamReader) -> str:
    """The callee's number from the UUID Asterisk sends first; reads exactly that frame, so
    everything after it is left for the call."""
    async with asyncio.timeout(FIRST_FRAME_TIMEOUT):
        header = await reader.readexactly(HEADER_BYTES)
        payload = await reader.readexactly(int.from_bytes(header[1:], "big"))
    frames = FrameParser().feed(header + payload)
    if len(frames) != 1 or not isinstance(frames[0], UuidFrame):
        raise ProtocolError("the first frame is not a UUID")
    return number_in_call_id(frames[0].call_id)
