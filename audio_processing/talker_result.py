"""What a talker adds to its call's row when its part of the call is over. No I/O.

Why one small type: the call's handler (call_processor) closes the calls row from it, and
the row is the one record every later reader (the analyzer, the call page) goes by. The
talker reports only what it alone knows: why it stopped, the agent's verdict, the reply
latencies it measured, how much of the agent's audio the callee actually heard, whether a
machine answered (and took a message) and how long the call was on hold. Facts
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
    MACHINE = "machine"  # an answering machine: the campaign's voicemail policy was followed
    HOLD_TIMEOUT = "hold_timeout"  # on hold longer than the campaign allows
    MODEL_CLOSED = "model_closed"
    MODEL_STALLED = "model_stalled"
    SESSION_FAILED = "session_failed"
    BRIDGE_ERROR = "bridge_error"

    @property
    def is_failure(self) -> bool:
        """Our side failed (the call's status becomes ai_failure)."""
        return self not in _NOT_FAILURES


_NOT_FAILURES = frozenset(
    {TalkerEnd.CALLER_HANGUP, TalkerEnd.END_CALL, TalkerEnd.MACHINE, TalkerEnd.HOLD_TIMEOUT}
)


class AnsweredBy(StrEnum):
    """Who picked up, as far as the call could tell (None when it could not)."""

    PERSON = "person"
    MACHINE = "machine"


@dataclass(frozen=True, slots=True)
class TalkerResult:
    reason: TalkerEnd
    agent_outcome: AgentOutcome | None = None  # end_call's verdict, when the agent gave one
    summary: str = ""
    latency_ms: tuple[float, ...] = ()  # callee stopped speaking → first reply frame written
    agent_audio_generated_ms: int = 0  # what the model sent
    agent_audio_played_ms: int = 0  # what was written to the call (less after a barge-in)
    answered_by: AnsweredBy | None = None
    message_left: bool | None = None  # a machine: whether the whole message was played
    hold_ms: int = 0  # time spent on hold
    model_audio_avoided_ms: int = 0  # caller audio not sent to the model (hold, machine)
