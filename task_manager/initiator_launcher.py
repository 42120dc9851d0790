"""The call initiator as the task engine's CallLauncher.

Why here: the scheduler depends only on the CallLauncher protocol it owns; this adapter is
the one place that knows both sides (task_manager may import call_processor, not the
reverse), and main.py plugs it in.
"""

from __future__ import annotations

from call_processor.call_attempt import CallResult
from call_processor.call_initiator import CallInitiator, CallRequest
from task_manager.call_launcher import CallReport, OnCallDone, PlannedCall
from task_manager.post_call_analyzer import AGENT_OUTCOMES


class InitiatorLauncher:
    """`capacity()` counts calls launched and not yet over, including those still waiting
    for a slot, so the scheduler never claims more than this process can start."""

    def __init__(self, initiator: CallInitiator, limit: int) -> None:
        self.initiator, self.limit, self.running = initiator, limit, 0

    def capacity(self) -> int:
        return self.limit - self.running

    def launch(self, call: PlannedCall, on_done: OnCallDone) -> None:
        self.running += 1
        request = CallRequest(
            user_id=call.user_id,
            phone_number=call.phone_number,
            task_id=call.task_id,
            attempt_number=call.attempt_number,
            context=call.context,
        )

        async def done(_request: CallRequest, result: CallResult) -> None:
            try:
                await on_done(call, report_of(result))
            finally:
                self.running -= 1

        try:
            self.initiator.launch(request, done)
        except Exception:
            self.running -= 1
            raise


def report_of(result: CallResult) -> CallReport:
    return CallReport(
        call_id=result.call_id,
        status=str(result.status),
        outcome=result.outcome,
        answered=result.answered,
        hangup_cause=result.hangup_cause,
        hangup_cause_text=result.hangup_cause_text,
        duration_seconds=result.duration_seconds,
        facts=result.facts,
        summary=result.summary,
        agent_outcome=result.outcome if result.outcome in AGENT_OUTCOMES else None,
    )
