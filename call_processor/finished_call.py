"""How one call ended, as its closed calls row says: what the task engine decides on.

Why built from the row and nowhere else: the row is what the call page shows and what a
recovering process finds after a crash. The call's handler writes the closing row and
returns `FinishedCall.from_row` of what it wrote; the lifecycle manager reads a row it
closed the same way. One mapper, so the outcome handed on and the stored one never
disagree. A call that never got a row (a refused number, no free slot) is
`FinishedCall.without_row`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from audio_processing.call_audio import EndReason
from audio_processing.talker_result import AnsweredBy, TalkerEnd, TalkerResult
from common.call_outcomes import AgentOutcome
from database.models import Call
from database.states import CallStatus

TRANSFERRED = "transferred"  # the `outcome` label of a call handed to the person
HOLD_TIMEOUT = "hold_timeout"  # the `outcome` label of a call on hold past the campaign's limit


class NotPlaced(StrEnum):
    """End reasons of a call that never reached the callee's phone: it uses no attempt."""

    NOT_PLACED = "not_placed"  # refused before dialing: no slot, no agent, a bad number
    ORIGINATE_REFUSED = "originate_refused"  # Asterisk refused or could not be reached
    DO_NOT_CALL = "do_not_call_list"  # the number is on a do-not-call list


class EndedBy(StrEnum):
    """Who ended the call."""

    FAR_END = "far_end"  # the callee (or their network: busy, congestion)
    AGENT = "agent"  # the talker said goodbye and hung up
    PLATFORM = "platform"  # we did: a failure, a person's hangup command, shutdown, timeouts

    @classmethod
    def of(cls, end_reason: str, talker: TalkerResult | None) -> EndedBy:
        """Read from the call's end reason, and the talker's own reason when it ended it."""
        if end_reason == EndReason.FAR_END_HANGUP:
            return cls.FAR_END
        talker_ended = end_reason in (EndReason.LOCAL_HANGUP, EndReason.TALKER_FINISHED)
        agent_ended = talker is None or talker.reason in (TalkerEnd.END_CALL, TalkerEnd.MACHINE)
        if talker_ended and agent_ended:
            return cls.AGENT  # a failing talker hangs up too, but that is our failure
        return cls.PLATFORM


@dataclass(frozen=True, slots=True)
class FinishedCall:
    call_id: str | None  # None: no calls row was ever written
    status: CallStatus  # final: completed, busy, no_answer, ..., ai_failure, interrupted
    outcome: str  # the row's one-word label (an AgentOutcome, "transferred", or the status)
    end_reason: str = ""  # far_end_hangup, talker_finished, hangup_command, not_placed, ...
    ended_by: EndedBy | None = None  # None on rows closed before this was recorded
    answered: bool = False
    duration_seconds: float | None = None
    hangup_cause: int | None = None
    hangup_cause_text: str | None = None
    amd_status: str | None = None  # Asterisk's AMD(): HUMAN, MACHINE, NOTSURE; None: not run
    transferred: bool = False
    agent_outcome: AgentOutcome | None = None
    summary: str = ""
    facts: Mapping[str, Any] = field(default_factory=dict)
    latency_ms: tuple[float, ...] = ()
    agent_audio_generated_ms: int | None = None
    agent_audio_played_ms: int | None = None
    callback_at: datetime | None = None  # the callee asked to be called back then
    answered_by: AnsweredBy | None = None  # person or machine, when the call could tell
    message_left: bool | None = None  # a machine: whether the whole message was played
    hold_seconds: float | None = None

    @property
    def placed(self) -> bool:
        """Did it reach the network at all? (A call never placed uses no attempt.)"""
        return self.end_reason not in set(NotPlaced)

    @property
    def machine(self) -> bool:
        """An answering machine took the call (our detection, or the agent's own verdict)."""
        return self.answered_by is AnsweredBy.MACHINE or self.agent_outcome is (
            AgentOutcome.VOICEMAIL
        )

    @property
    def hold_timed_out(self) -> bool:
        return self.outcome == HOLD_TIMEOUT

    @classmethod
    def from_row(cls, row: Call) -> FinishedCall:
        """The one mapper from a closed calls row; a live row has no outcome yet."""
        status = CallStatus(row.status)
        if not status.is_final:
            raise ValueError(f"call {row.id} is still {status}")
        return cls(
            call_id=row.id,
            status=status,
            outcome=row.outcome or str(status),
            end_reason=row.end_reason or "",
            ended_by=_ended_by(row.ended_by),
            answered=row.answered_at is not None,
            duration_seconds=row.duration_seconds,
            hangup_cause=row.hangup_cause,
            hangup_cause_text=row.hangup_cause_text,
            amd_status=row.amd_status,
            # Rows closed before revision 0006 said both in `outcome` alone.
            transferred=bool(row.transferred) or row.outcome == TRANSFERRED,
            agent_outcome=AgentOutcome.parse(row.agent_outcome or row.outcome),
            summary=row.summary or "",
            facts=dict(row.facts or {}),
            latency_ms=tuple(float(ms) for ms in row.latency_ms or ()),
            agent_audio_generated_ms=row.agent_audio_generated_ms,
            agent_audio_played_ms=row.agent_audio_played_ms,
            callback_at=row.callback_at,
            answered_by=_answered_by(row.answered_by),
            message_left=row.message_left,
            hold_seconds=row.hold_seconds,
        )

    @classmethod
    def without_row(cls, call_id: str | None, status: CallStatus, end_reason: str) -> FinishedCall:
        """A call with no closed row to read: never placed, interrupted by shutdown, or its
        closing write was lost. `call_id` is None when certainly no row was ever written.
        Ended by us, whatever it was."""
        return cls(call_id, status, str(status), end_reason, EndedBy.PLATFORM)


def outcome_label(status: CallStatus, transferred: bool, talker: TalkerResult | None) -> str:
    """The row's one-word `outcome`: what the person sees on the call list."""
    if status is not CallStatus.COMPLETED:
        return str(status)
    if transferred:
        return TRANSFERRED
    if talker is not None and talker.reason is TalkerEnd.HOLD_TIMEOUT:
        return HOLD_TIMEOUT
    if talker is not None and talker.agent_outcome is not None:
        return str(talker.agent_outcome)
    return str(status)


def _ended_by(stored: str | None) -> EndedBy | None:
    try:
        return None if stored is None else EndedBy(stored)
    except ValueError:
        return None


def _answered_by(stored: str | None) -> AnsweredBy | None:
    try:
        return None if stored is None else AnsweredBy(stored)
    except ValueError:
        return None
