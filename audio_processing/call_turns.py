"""The turns of a call as the bridge hears them, and the sink it hands them to.

Why apart from the bridge: the call processor stores and publishes turns (TurnWriter)
without needing anything else of the bridge; a turn is one utterance (the words of
docs/architecture.md). An agent turn is stored as the callee heard it: the model writes
its whole transcript before the audio has played, and truncating the audio deletes the
server's transcript instead of shortening it (docs/protocols.md, Barge-in and truncate),
so a cut turn keeps only its share of the words and says where it was cut.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

CUT_MARK = "…"


@dataclass(frozen=True, slots=True)
class Turn:
    """One utterance, by the agent or the callee, with when it was spoken."""

    speaker: Literal["agent", "callee"]
    text: str
    item_id: str
    started_at: datetime | None
    ended_at: datetime
    cut_at_ms: int | None = None  # an agent turn cut off: the milliseconds the callee heard


@dataclass(frozen=True, slots=True)
class HoldChange:
    """The call went on hold, or came back from it."""

    on_hold: bool
    since: datetime  # when this hold began
    held_ms: int = 0  # coming back: how long it lasted
    avoided_ms: int = 0  # coming back: caller audio not sent to the model meanwhile


def heard_text(text: str, played_ms: int, generated_ms: int) -> str:
    """The words of a cut agent turn the callee likely heard: the same share of the words
    as of the audio, then a mark. An estimate (speech is not evenly paced), so the turn
    also keeps the played milliseconds."""
    if generated_ms <= 0 or played_ms >= generated_ms:
        return text
    words = text.split()
    kept = words[: int(len(words) * max(0, played_ms) / generated_ms)]
    return " ".join([*kept, CUT_MARK]) if kept else CUT_MARK


class TurnSink(Protocol):
    """Receives turns, reply latencies and holds as they happen. Must not block: queue, return."""

    def on_turn(self, turn: Turn) -> None: ...

    def on_latency(self, latency_ms: float) -> None: ...

    def on_hold(self, change: HoldChange) -> None: ...
