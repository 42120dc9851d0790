"""The turns of a call as the bridge hears them, and the sink it hands them to.

Why apart from the bridge: the call processor stores and publishes turns (TurnWriter)
without needing anything else of the bridge; a turn is one utterance (the words of
docs/architecture.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol


@dataclass(frozen=True, slots=True)
class Turn:
    """One utterance, by the agent or the callee, with when it was spoken."""

    speaker: Literal["agent", "callee"]
    text: str
    item_id: str
    started_at: datetime | None
    ended_at: datetime


class TurnSink(Protocol):
    """Receives turns and reply latencies as they happen. Must not block: queue and return."""

    def on_turn(self, turn: Turn) -> None: ...

    def on_latency(self, latency_ms: float) -> None: ...
