"""How an originated call ended before (or by) being answered; pure.

Why apart from the events: the outcome rules (Originate Reason vs. the Hangup's Q.850
cause, and the order Asterisk sends them in) are policy on top of the events, tested
against recorded transcripts on their own.
"""

from __future__ import annotations

from enum import StrEnum

from call_processor.ami.events import AmiEvent, Hangup, OriginateResponse


class CallOutcome(StrEnum):
    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    CONGESTION = "congestion"
    FAILED = "failed"


_BY_CAUSE = {
    17: CallOutcome.BUSY,  # user busy
    18: CallOutcome.NO_ANSWER,  # no user response
    19: CallOutcome.NO_ANSWER,  # no answer
    34: CallOutcome.CONGESTION,  # no circuit available
    38: CallOutcome.CONGESTION,  # network out of order
    41: CallOutcome.CONGESTION,  # temporary failure
    42: CallOutcome.CONGESTION,  # switching equipment congestion
    1: CallOutcome.FAILED,  # unallocated number
    3: CallOutcome.FAILED,  # no route to destination
    28: CallOutcome.FAILED,  # invalid number format
}
_BY_REASON = {
    4: CallOutcome.ANSWERED,
    5: CallOutcome.BUSY,
    3: CallOutcome.NO_ANSWER,
    8: CallOutcome.CONGESTION,
}


def originate_outcome(reason: int, hangup_cause: int | None = None) -> CallOutcome:
    """Why an originated call ended before (or by) being answered.

    Reason 4 (answered) always wins. Otherwise a known Q.850 cause from the channel's
    Hangup is more precise than Reason (Reason 1 "hung up" or 0 hide busy/congestion),
    and Reason decides when the cause says nothing specific.
    """
    if reason == 4:
        return CallOutcome.ANSWERED
    if hangup_cause is not None and hangup_cause in _BY_CAUSE:
        return _BY_CAUSE[hangup_cause]
    return _BY_REASON.get(reason, CallOutcome.FAILED)


class OutcomeTracker:
    """Fold one call's events into its outcome; pure, fed by the call's subscriber.

    Recorded from Asterisk 22: a busy or congested callee gives OriginateResponse
    `Failure` with Reason 0 for both, and the Hangup with the telling cause (17 / 34)
    arrives *after* it. So a failed OriginateResponse alone is not an answer: wait for the
    channel's Hangup, or call `give_up()` after a short grace to decide on Reason alone.
    """

    def __init__(self) -> None:
        self.reason: int | None = None
        self.hangup_cause: int | None = None
        self.outcome: CallOutcome | None = None

    def feed(self, event: AmiEvent) -> CallOutcome | None:
        """Record an event of this call; the outcome once it is known."""
        if self.outcome is None:
            if isinstance(event, Hangup):
                self.hangup_cause = event.cause
            elif isinstance(event, OriginateResponse):
                self.reason = event.reason if not event.success else 4
            if self.reason == 4:
                self.outcome = CallOutcome.ANSWERED
            elif self.reason is not None and self.hangup_cause is not None:
                self.outcome = originate_outcome(self.reason, self.hangup_cause)
        return self.outcome

    @property
    def waiting_for_hangup(self) -> bool:
        return self.outcome is None and self.reason is not None

    def give_up(self) -> CallOutcome:
        """Decide with what we have: the Hangup cause if one came (it can arrive before the
        OriginateResponse, or without one), else Reason alone, else failed."""
        if self.outcome is None:
            reason = -1 if self.reason is None else self.reason
            self.outcome = originate_outcome(reason, self.hangup_cause)
        return self.outcome
