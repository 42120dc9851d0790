"""One demo callee on one answered call, over one AudioSocket connection.

The same script runs on both demo lines. On the simulated line it does what Asterisk does
for an answered call in `[opendeep-agent]` (docs/protocols.md, AudioSocket): connects to
OpenDeep's AudioSocket server and sends the call's UUID first (`call_out`). On the sandbox
line Asterisk's far end connects to the demo's callee server (callee_server.py), which hands
the connection to `run`. Either way the callee sends its audio as 20 ms slin frames, one
every 20 ms for as long as the call lasts (silence between lines, like a phone line's RTP),
and reads the agent's audio. It speaks its lines in order and, after each, waits for what
its script says: the agent to speak and pause (heard by energy), a key (PlayDTMF: over AMI
on the simulated line, a DTMF frame from Asterisk on the sandbox line), or nothing. It hangs
up by closing the socket (EOF), as Asterisk does.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

from audio_processing.audio_socket_protocol import (
    AudioFrame,
    DtmfFrame,
    FrameParser,
    HangupFrame,
    ProtocolError,
    encode_audio,
    encode_uuid,
)
from common.owned_tasks import TaskOwner
from common.stream_server import close_writer
from launcher.demo import voice
from launcher.demo.callees import CalleeLine, DemoCallee

log = logging.getLogger(__name__)
AGENT_RMS = 500.0  # a louder agent frame is speech
AGENT_PAUSE_MS = 700  # the agent stopped talking after this much quiet
FIRST_WORDS_AFTER = 0.4  # seconds from answering to the callee's first line
WAIT_FOR_AGENT = 150.0  # the agent may be waiting for the person's answer (120 s)
WAIT_FOR_DIGIT = 20.0
LAST_WORDS_WAIT = 20.0  # after its last line, the callee hangs up unless the agent does


class AgentEars:
    """Counts the agent's utterances in the audio the callee hears (8 kHz slin frames)."""

    def __init__(self) -> None:
        self.utterances = 0
        self._speaking = False
        self._quiet_ms = 0
        self.changed = asyncio.Event()

    def feed(self, frame: bytes) -> None:
        loud = voice.rms(frame) >= AGENT_RMS
        if loud:
            self._speaking, self._quiet_ms = True, 0
        elif self._speaking:
            self._quiet_ms += len(frame) // 16
            if self._quiet_ms >= AGENT_PAUSE_MS:
                self._speaking = False
                self.utterances += 1
                self.changed.set()


class CalleeCall:
    """`run()` (or `call_out()`) until the call ends; `press(digit)` and `hang_up()` come
    from the line."""

    def __init__(self, callee: DemoCallee, label: str) -> None:
        self.callee = callee
        self._out: asyncio.Queue[bytes] = asyncio.Queue()
        self._drained = asyncio.Event()  # the last queued frame went out
        self._digits: asyncio.Queue[str] = asyncio.Queue()
        self._ears = AgentEars()
        self._over = asyncio.Event()
        self._owner = TaskOwner(f"demo-callee:{label}")

    def press(self, digit: str) -> None:
        self._digits.put_nowait(digit)

    def hang_up(self) -> None:
        self._over.set()

    async def call_out(self, address: tuple[str, int], call_id: str) -> None:
        """Connect to OpenDeep's AudioSocket server as Asterisk would, then `run`."""
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(*address), 5)
        except (OSError, TimeoutError):
            log.warning("demo line: the AudioSocket server cannot be reached")
            return
        writer.write(encode_uuid(uuid.UUID(call_id)))
        await self.run(reader, writer)

    async def run(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Play the callee on a connection whose UUID has been exchanged, until it ends."""
        try:
            tasks = [
                self._owner.spawn(self._speak(writer), "speak"),
                self._owner.spawn(self._listen(reader), "listen"),
                self._owner.spawn(self._script(), "script"),
                self._owner.spawn(self._over.wait(), "hangup"),
            ]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await self._owner.aclose(timeout=1.0)
            await close_writer(writer)

    async def _speak(self, writer: asyncio.StreamWriter) -> None:
        """One frame every 20 ms on a monotonic clock: the next queued, else silence."""
        silence = bytes(voice.FRAME_BYTES)
        started, sent = time.monotonic(), 0
        while True:
            frame = silence if self._out.empty() else self._out.get_nowait()
            if self._out.empty():
                self._drained.set()
            writer.write(encode_audio(frame))
            await writer.drain()
            sent += 1
            await asyncio.sleep(max(0.0, started + sent * 0.02 - time.monotonic()))

    async def _listen(self, reader: asyncio.StreamReader) -> None:
        parser = FrameParser()
        while data := await reader.read(4096):
            try:
                frames = parser.feed(data)
            except ProtocolError:
                return
            for frame in frames:
                if isinstance(frame, HangupFrame):
                    return  # OpenDeep ended the call
                if isinstance(frame, AudioFrame):
                    self._ears.feed(frame.pcm)
                elif isinstance(frame, DtmfFrame):
                    self.press(frame.digit)

    async def _say(self, pcm: bytes) -> None:
        """Queue the audio and return once it has all been sent."""
        self._drained.clear()
        for frame in voice.frames(pcm):
            self._out.put_nowait(frame)
        await self._drained.wait()

    async def _script(self) -> None:
        await asyncio.sleep(FIRST_WORDS_AFTER)
        for exchange in self.callee.exchanges:
            await self._line(exchange.callee)
        await asyncio.sleep(LAST_WORDS_WAIT)

    async def _line(self, line: CalleeLine) -> None:
        heard = self._ears.utterances
        await self._say(voice.speech(line.text, seed=len(line.text)))
        if line.beep_after:
            await asyncio.sleep(0.7)
            await self._say(voice.beep())
        if line.digit:
            await self._wait_digit(line.digit)
        elif line.waits == 0:
            await asyncio.sleep(1.2)
        else:
            await self._wait_agent(heard + line.waits)

    async def _wait_digit(self, digit: str) -> None:
        async with asyncio.timeout(WAIT_FOR_DIGIT):
            while await self._digits.get() != digit:
                pass
        await asyncio.sleep(0.5)

    async def _wait_agent(self, utterances: int) -> None:
        """Until the agent has said `utterances` things in all (counted from the start of
        the line just said, so words spoken over it count too)."""
        async with asyncio.timeout(WAIT_FOR_AGENT):
            while self._ears.utterances < utterances:
                self._ears.changed.clear()
                await self._ears.changed.wait()
        await asyncio.sleep(0.3)
