"""The demo callees' AudioSocket server without Asterisk: the test connects as the sandbox's
far end would (UUID first, the callee's number in its last 16 hex digits), hears the
callee and presses keys with AudioSocket DTMF frames, as Asterisk 22.4+ forwards them."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

from audio_processing.audio_socket_protocol import (
    AudioFrame,
    FrameParser,
    encode_audio,
    encode_dtmf,
    encode_uuid,
)
from launcher.demo import voice
from launcher.demo.callee_server import CalleeServer
from launcher.demo.callees import BRIGHT_SMILE, DemoCallee


def far_end_id(callee: DemoCallee) -> uuid.UUID:
    """What extension 216 makes of the callee's number (asterisk/sandbox/conf)."""
    padded = callee.number.lstrip("+").rjust(16, "0")
    return uuid.UUID(f"{str(uuid.uuid4())[:19]}{padded[:4]}-{padded[4:]}")


class FarEnd:
    """Asterisk's side of the far end, reduced to counting the callee's loud frames."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.loud = 0

    async def hear(self, seconds: float) -> int:
        """Loud frames heard in the next `seconds`, sending silence meanwhile (Asterisk's
        RTP from the agent's side never stops)."""
        parser, before = FrameParser(), self.loud
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while True:
                    self.writer.write(encode_audio(bytes(voice.FRAME_BYTES)))
                    with contextlib.suppress(TimeoutError):
                        data = await asyncio.wait_for(self.reader.read(4096), 0.02)
                        assert data, "the callee hung up"
                        for frame in parser.feed(data):
                            if isinstance(frame, AudioFrame) and voice.rms(frame.pcm) >= 500:
                                self.loud += 1
        return self.loud - before


@contextlib.asynccontextmanager
async def far_end(server: CalleeServer, call_id: uuid.UUID) -> AsyncIterator[FarEnd]:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(encode_uuid(call_id))
    try:
        yield FarEnd(reader, writer)
    finally:
        writer.close()


async def test_the_menu_speaks_waits_for_its_key_and_takes_it_from_a_dtmf_frame() -> None:
    async with CalleeServer() as server, far_end(server, far_end_id(BRIGHT_SMILE)) as line:
        menu_seconds = voice.speech_ms(BRIGHT_SMILE.exchanges[0].callee.text) / 1000
        assert await line.hear(menu_seconds + 1.0) > 50  # the menu
        [call] = server.calls
        assert call.callee is BRIGHT_SMILE
        assert await line.hear(1.0) == 0  # waiting for a key
        line.writer.write(encode_dtmf("1"))
        assert await line.hear(2.0) > 20  # "Please hold while we connect you."


async def test_a_connection_whose_uuid_carries_no_number_is_closed() -> None:
    async with CalleeServer() as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(encode_uuid(uuid.UUID("8d1c2f3a-1b2c-4d5e-abcd-ef0123456789")))
        assert await asyncio.wait_for(reader.read(), 5) == b""
        assert not server.calls
        writer.close()
