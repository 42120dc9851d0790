"""What a talker adds to its call's row when its part of the call is over. No I/O.

Why one small type: the call's handler (call_processor) closes the calls row from it, and
the row is the one record every later reader (the analyzer, the call page) goes by. The
talker reports only what it alone knows: why it stopped, the agent's verdict, the reply
latencies it measured and how much of the agent's audio the callee actually heard. Facts
the agent recorded are not here: the tool host stores them on the row as they come.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from common.call_outcomes import AgentOutcome


class TalkerEnd(StrEnum):
    """Why the talker stopped."""

    CALLER_HANGUP = "caller_hangup"  # the call's audio ended under it (hangup, transfer)
    END_CALL = "end_call"  # the agent said goodbye and ended the call itself
    MODEL_CLOSED = "model_closed"
    MODEL_STALLED = "model_stalled"
    SESSION_FAILED = "session_failed"
    BRIDGE_ERROR = "bridge_error"

    @property
    def is_failure(self) -> bool:
        """Our side failed (the call's status becomes ai_failure)."""
        return self not in (TalkerEnd.CALLER_HANGUP, TalkerEnd.END_CALL)


@dataclass(frozen=True, slots=True)
class TalkerResult:
    reason: TalkerEnd
    agent_outcome: AgentOutcome | None = None  # end_call's verdict, when the agent gave one
    summary: str = ""
    latency_ms: tuple[float, ...] = ()  # callee stopped speaking → first reply frame written
    agent_audio_generated_ms: int = 0  # what the model sent
    agent_audio_played_ms: int = 0  # what was written to the call (less after a barge-in)
