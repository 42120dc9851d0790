"""A talker for tests: records what a call sent it, optionally plays audio first.

It implements the product's CallTalker protocol (`run(audio)`), so the AudioSocket server
and the call initiator treat it like the AI agent; it just has no model behind it.
"""

from __future__ import annotations

import asyncio

from audio_processing.call_audio import CallAudio
from common.owned_tasks import TaskOwner


class RecordingTalker:
    """A talker for tests: records inbound frames and digits, optionally plays audio first.

    With `hangup_after_play`, it waits for the audio to be played and hangs up (the
    "say goodbye then hang up" path); otherwise it listens until the call ends.
    """

    def __init__(
        self, play: bytes = b"", mark: str | None = "play", hangup_after_play: bool = False
    ) -> None:
        self.play = play
        self.mark = mark
        self.hangup_after_play = hangup_after_play
        self.frames: list[bytes] = []
        self.digits: list[str] = []
        self.audio: CallAudio | None = None
        self.started = asyncio.Event()
        self.finished = asyncio.Event()

    async def run(self, audio: CallAudio) -> None:
        self.audio = audio
        self.started.set()
        owner = TaskOwner(f"{audio.metadata.call_id}:recorder")
        try:
            owner.spawn(self._collect_digits(audio), name="dtmf")
            if self.play:
                audio.enqueue(self.play, self.mark)
            if self.hangup_after_play:
                await audio.drained()
                audio.hangup()
            async for frame in audio.inbound():
                self.frames.append(frame)
        finally:
            await owner.aclose(timeout=1.0)
            self.finished.set()

    async def _collect_digits(self, audio: CallAudio) -> None:
        async for digit in audio.dtmf():
            self.digits.append(digit)
