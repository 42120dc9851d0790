"""Pure: chan_websocket's playout queue for one leg, as the load generator emulates it. No I/O.

Why: on the media WebSocket wire Asterisk owns the 20 ms clock (docs/protocols.md, Media
WebSocket). The platform sends audio ahead in chunks, Asterisk queues it in 20 ms frames,
plays one per tick and sends the callee nothing when the queue is empty (so a quiet call
gets silence from the platform, which the load generator leaves out of this queue);
FLUSH_MEDIA empties it. So
what a caller hears go wrong is not the spacing of our writes (Asterisk paces them) but an
**underrun**: the queue ran dry in the middle of a reply because the next chunk came late.
Counted as a tick with an empty queue right after a tick that played audio, when audio
arrives again within UNDERRUN_WINDOW_S (later than that, the reply had simply ended).
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import Any

from benchmarks.stats import percentile

FRAME_BYTES = 320  # slin8, 20 ms
FRAME_MS = 20
UNDERRUN_WINDOW_S = 0.300


class Playout:
    """One leg's queue: `audio` when a BINARY message arrives, `flush` on FLUSH_MEDIA,
    `tick` once per 20 ms (Asterisk's clock). Keeps times, so a window can be cut later."""

    def __init__(self) -> None:
        self.queued = 0  # whole frames waiting
        self.partial = 0  # bytes of a frame not yet whole (chunks are multiples of 320)
        self.playing = False  # the previous tick played audio
        self.gap_start: float | None = None  # the tick the queue ran dry mid-reply
        self.played = array("d")  # ticks that played audio
        self.underruns = array("d")  # gap starts that were underruns
        self.lead_at = array("d")  # arrival times of chunks that continue a reply ...
        self.lead_ms = array("d")  # ... and how much was queued ahead of them (ms)

    def audio(self, now: float, nbytes: int) -> None:
        """A chunk arrived: its lead is the queue ahead of it (only mid-reply: the first
        chunk of a reply always meets an empty queue, which says nothing)."""
        if self.gap_start is not None:
            if now - self.gap_start <= UNDERRUN_WINDOW_S:
                self.underruns.append(self.gap_start)
            self.gap_start = None
        elif self.queued or self.playing:
            self.lead_at.append(now)
            self.lead_ms.append(self.queued * FRAME_MS)
        whole, self.partial = divmod(self.partial + nbytes, FRAME_BYTES)
        self.queued += whole

    def flush(self) -> None:
        """FLUSH_MEDIA (barge-in): the reply was cut on purpose, so no underrun follows.
        With nothing queued it cut no reply (the platform drops a quiet call's silence
        before speech that way): a gap already open stays open."""
        if not (self.queued or self.partial):
            return
        self.queued = self.partial = 0
        self.playing = False
        self.gap_start = None

    def tick(self, now: float) -> None:
        if self.queued:
            self.queued -= 1
            self.played.append(now)
            self.playing = True
        elif self.playing:
            self.playing = False
            self.gap_start = now


def _inside(times: Sequence[float], t0: float, t1: float) -> int:
    return sum(1 for t in times if t0 <= t <= t1)


def playout_report(
    legs: Sequence[Playout], messages: Sequence[Sequence[float]], window: tuple[float, float]
) -> dict[str, Any]:
    """All legs inside the window: frames played, underruns, lead p50/min, messages per
    call-second (`messages`: each leg's message arrival times)."""
    t0, t1 = window
    leads = [
        ms
        for leg in legs
        for at, ms in zip(leg.lead_at, leg.lead_ms, strict=True)
        if t0 <= at <= t1
    ]
    call_seconds = max(1e-9, len(legs) * (t1 - t0))
    return {
        "frames_played": sum(_inside(leg.played, t0, t1) for leg in legs),
        "underruns": sum(_inside(leg.underruns, t0, t1) for leg in legs),
        "lead_ms": {
            "p50": round(percentile(leads, 50), 1),
            "min": round(min(leads, default=0.0), 1),
            "count": len(leads),
        },
        "messages_per_call_second": round(
            sum(_inside(times, t0, t1) for times in messages) / call_seconds, 2
        ),
    }
