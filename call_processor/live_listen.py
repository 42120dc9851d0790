"""Live listening: the call's own process publishes both sides of its audio while the
owner's page listens.

Why here: the AudioSocket stream carries only the callee, and the agent's audio exists only
on its way to Asterisk, so the process running the call is the one place both sides meet
(docs/protocols.md, Live listening). A page asks with the `listen` command, renewed every
few seconds; publishing stops by itself when renewals stop (a closed tab, a dead web
process), so nobody's call keeps streaming to nobody.

Wire format, one bus message per tick (pure functions below): records of
`side (1 byte: 0 callee, 1 agent) | sample rate (2 bytes, big-endian) | length (2 bytes,
big-endian) | μ-law samples`. μ-law halves the bytes of slin and is what a phone line
carries anyway; the page decodes and mixes the two sides (web_interface/static/listen.js).
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections import deque
from collections.abc import Iterator

from audio_processing.call_audio import CallAudio
from audio_processing.expected_call import ExpectedCall
from audio_processing.g711 import slin_to_ulaw
from common.command_bus import CommandBus, CommandBusError
from common.owned_tasks import TaskOwner

log = logging.getLogger(__name__)
TICK = 0.04  # one message per 40 ms: well inside the 500 ms a listener may lag
MAX_PENDING = 100  # frames (2 s) kept when publishing falls behind; older ones dropped
_HEADER = struct.Struct(">BHH")


def encode_record(side: int, sample_rate: int, pcm: bytes) -> bytes:
    """One side's frame, as μ-law with its header."""
    ulaw = slin_to_ulaw(pcm)
    return _HEADER.pack(side, sample_rate, len(ulaw)) + ulaw


def decode_records(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(side, sample rate, μ-law) of each record; a truncated record ends the message."""
    at = 0
    while at + _HEADER.size <= len(data):
        side, rate, length = _HEADER.unpack_from(data, at)
        body = data[at + _HEADER.size : at + _HEADER.size + length]
        if len(body) < length:
            return
        yield side, rate, body
        at += _HEADER.size + length


class ListenTap:
    """One call's listening state: a deadline the page keeps pushing forward, the frames
    heard since the last tick, and the task that publishes them."""

    def __init__(
        self, call_id: str, expected: ExpectedCall, bus: CommandBus, owner: TaskOwner
    ) -> None:
        self.call_id = call_id
        self.expected = expected
        self.bus = bus
        self.owner = owner
        self.deadline = 0.0
        self.published = 0
        self._frames: deque[tuple[int, bytes]] = deque(maxlen=MAX_PENDING)
        self._pump: asyncio.Task[None] | None = None

    def extend(self, seconds: float) -> None:
        """The page listens for `seconds` more (0: stop now)."""
        self.deadline = time.monotonic() + seconds
        if seconds > 0 and (self._pump is None or self._pump.done()):
            self._pump = self.owner.spawn(self._run(), "listen")

    def _heard(self, side: int, frame: bytes) -> None:
        self._frames.append((side, frame))  # on the audio path: a copy, nothing more

    async def _run(self) -> None:
        attached: CallAudio | None = None
        try:
            while time.monotonic() < self.deadline:
                audio = self.expected.audio
                if audio is not None and attached is None:
                    audio.listen(self._heard)
                    attached = audio
                await asyncio.sleep(TICK)
                await self._publish(attached)
        finally:
            if attached is not None:
                attached.listen(None)
            self._frames.clear()

    async def _publish(self, audio: CallAudio | None) -> None:
        if not self._frames or audio is None:
            return
        rate = audio.metadata.sample_rate
        message = b"".join(encode_record(side, rate, pcm) for side, pcm in self._frames)
        self._frames.clear()
        try:
            await self.bus.publish_call_audio(self.call_id, message)
            self.published += 1
        except CommandBusError as exc:  # the next tick tries again; the call goes on
            log.warning("listen audio not published", extra={"error": str(exc)})
