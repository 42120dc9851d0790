"""On hold: the model hears nothing until a person comes back, and the wait is counted.

Why keep the session open: a session that sends no audio costs nothing (the model is paid
per token), the conversation stays where it was, and coming back is one replay, not a new
socket plus the conversation re-sent; measured with the fake model, the first audio
after resuming came 1.8 ms after the request in an open session, 8.6 ms in a re-opened one
(before the real service's TLS handshake and session.update round trip) (docs/protocols.md,
Answering machines, beeps and hold). A GA session lasts at most 60 minutes, so a
campaign's hold limit is at most 50 (common/call_policy.py).

While on hold the caller's frames are only listened to (CalleeWatch's person watch), the
uncommitted hold audio is dropped from the model's buffer, and the AudioSocket server is
told silence is expected. When a person speaks and waits, the model is told the hold is
over and hears their last words (the replay), then answers them.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from audio_processing.call_audio import CallAudio
from audio_processing.call_turns import HoldChange, TurnSink
from audio_processing.callee_watch import CalleeWatch
from audio_processing.realtime.audio import ModelAudio
from audio_processing.realtime.model_link import ModelLink

log = logging.getLogger(__name__)

BACK_FROM_HOLD = (
    "[The hold music has stopped and someone is speaking. If it is a person, greet them "
    "and carry on with the call. If it is a recording or music, call report_on_hold and "
    "say nothing.]"
)
REPLAY_BATCH = 25  # frames per append when replaying (faster than real time, like the model)


class HoldMode:
    def __init__(self, watch: CalleeWatch, sink: TurnSink | None, max_hold_s: float) -> None:
        self.watch = watch
        self.sink = sink
        self.max_hold_s = max_hold_s
        self.on = False
        self.holds = 0
        self.avoided_ms = 0.0  # caller audio kept from the model, this call
        self._held_s = 0.0  # earlier holds, this call
        self._since: float | None = None  # loop time this hold began
        self._since_wall = datetime.now(UTC)
        self._avoided_at_start = 0.0

    async def enter(self, link: ModelLink, audio: CallAudio, reason: str) -> None:
        if self.on:
            return
        self.on, self.holds = True, self.holds + 1
        self._since = asyncio.get_running_loop().time()
        self._since_wall = datetime.now(UTC)
        self._avoided_at_start = self.avoided_ms
        self.watch.hold()
        audio.expect_silence(True)
        log.info("call on hold", extra={"reason": reason})
        if self.sink is not None:
            self.sink.on_hold(HoldChange(True, self._since_wall))
        await link.clear_input()

    async def leave(self, link: ModelLink, audio: CallAudio, codec: ModelAudio) -> None:
        """A person is back: tell the model, replay their words, listen again."""
        replay = self.end(audio)
        await link.tell(BACK_FROM_HOLD)
        for start in range(0, len(replay), REPLAY_BATCH):
            await link.append(
                b"".join(codec.to_model(f) for f in replay[start : start + REPLAY_BATCH])
            )

    def end(self, audio: CallAudio) -> list[bytes]:
        """Off hold without a person (the call ends, or a machine took over): the frames
        that would be replayed."""
        if not self.on or self._since is None:
            return []
        held = asyncio.get_running_loop().time() - self._since
        self._held_s += held
        self.on, self._since = False, None
        audio.expect_silence(False)
        avoided = self.avoided_ms - self._avoided_at_start
        log.info("call off hold", extra={"held_s": round(held, 1), "avoided_ms": int(avoided)})
        if self.sink is not None:
            self.sink.on_hold(HoldChange(False, self._since_wall, int(held * 1000), int(avoided)))
        return self.watch.resume()

    def skipped(self, ms: float) -> None:
        """A caller frame the model did not get."""
        self.avoided_ms += ms

    @property
    def total_s(self) -> float:
        """Time on hold this call, holds that have ended."""
        return self._held_s

    def held_s(self, now: float) -> float:
        """Time on hold so far this call, the hold in progress included."""
        return self._held_s + (now - self._since if self._since is not None else 0.0)

    def too_long(self, now: float) -> bool:
        return self.on and self.held_s(now) >= self.max_hold_s
