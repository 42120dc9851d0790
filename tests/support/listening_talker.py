"""A talker for tests that only listens: it keeps every caller frame exactly as the bridge
gets it (silence filled in while Asterisk sends nothing), for a while, then hangs up.

Why: the call's detectors (audio_processing/callee_watch.py) run on that stream, so their
tests on the sandbox's real prompts record it through a real call rather than decoding the
prompt files some other way. It is a PreparedTalker (call_processor/call_attempt.py).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from audio_processing.call_audio import CallAudio
from audio_processing.realtime.audio import with_silence
from audio_processing.talker_result import TalkerResult
from call_processor.call_initiator import CallRequest
from common.commands import CallCommand


class ListeningTalker:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.frames: list[bytes] = []
        self.started_at: float | None = None  # time.time() of the first frame

    async def run(self, audio: CallAudio) -> None:
        try:
            async with asyncio.timeout(self.seconds):
                async for frame in with_silence(audio, 0.1):
                    if self.started_at is None:
                        self.started_at = time.time()
                    self.frames.append(frame)
        except TimeoutError:
            pass
        audio.hangup()

    @property
    def pcm(self) -> bytes:
        return b"".join(self.frames)

    def result(self) -> TalkerResult | None:
        return None

    async def on_command(self, command: CallCommand) -> None:
        return None

    async def aclose(self) -> None:
        return None


@dataclass
class ListeningFactory:
    """One ListeningTalker per call (a call_stack `make_talkers`), listening `seconds`, or
    as long as `seconds_for` says for the number called; kept by that number."""

    seconds: float = 10.0
    seconds_for: dict[str, float] = field(default_factory=dict)
    by_number: dict[str, ListeningTalker] = field(default_factory=dict)

    async def prepare(self, request: CallRequest, call_id: str) -> ListeningTalker:
        seconds = self.seconds_for.get(request.phone_number, self.seconds)
        talker = self.by_number[request.phone_number] = ListeningTalker(seconds)
        return talker
