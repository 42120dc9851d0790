"""The agent's reply latency: the callee stops speaking → the reply's first frame written.

Why measured at the playout queue: what the callee waits for is audio leaving for
Asterisk, not the model's first delta (which may sit queued behind an earlier reply).
The queue says when a mark's first frame is written (`on_first_frame`), so waiting for
it costs nothing; a reply flushed by a barge-in before it played is never measured.
"""

from __future__ import annotations

import time

from audio_processing.call_audio import CallAudio
from audio_processing.call_turns import TurnSink


class LatencyProbe:
    """One per call: `turn_ended()` starts the clock, `reply_started()` stops it."""

    def __init__(self, sink: TurnSink | None = None) -> None:
        self.sink = sink
        self.latencies_ms: list[float] = []
        self._turn_ended_at: float | None = None

    def turn_ended(self) -> None:
        """The callee stopped speaking (the model's VAD says so): the next reply is timed."""
        self._turn_ended_at = time.monotonic()

    def reply_started(self, item: str, audio: CallAudio) -> None:
        """The model's first audio of `item` arrived; timed once its first frame is written.

        Only the first reply after a turn is timed: the model may speak again unprompted
        (after a tool output), and that is no one's waiting time.
        """
        ended, self._turn_ended_at = self._turn_ended_at, None
        if ended is not None:
            audio.on_first_frame(item, lambda: self._measured(ended))

    def _measured(self, ended: float) -> None:
        latency = (time.monotonic() - ended) * 1000
        self.latencies_ms.append(latency)
        if self.sink is not None:
            self.sink.on_latency(latency)
