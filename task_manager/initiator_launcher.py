"""The call initiator as the task engine's CallLauncher.

Why here: the scheduler depends only on the CallLauncher protocol it owns; this adapter is
the one place that knows both sides (task_manager may import call_processor, not the
reverse), and main.py plugs it in. The FinishedCall is passed on as the initiator gave it:
it was read from the call's closed row, so there is nothing to map.
"""

from __future__ import annotations

from call_processor.call_initiator import CallInitiator, CallRequest
from call_processor.finished_call import FinishedCall
from common.call_policy import CallPolicy
from task_manager.call_launcher import OnCallDone, PlannedCall


class InitiatorLauncher:
    """`capacity()` counts calls launched and not yet over, including those still waiting
    for a slot, so the scheduler never claims more than this process can start."""

    def __init__(self, initiator: CallInitiator, limit: int) -> None:
        self.initiator, self.limit, self.running = initiator, limit, 0

    def capacity(self) -> int:
        return self.limit - self.running

    def launch(self, call: PlannedCall, on_done: OnCallDone) -> None:
        self.running += 1
        policy = CallPolicy.from_context(call.context)
        request = CallRequest(
            user_id=call.user_id,
            phone_number=call.phone_number,
            task_id=call.task_id,
            attempt_number=call.attempt_number,
            context=call.context,
            # Asterisk's AMD() when the launch or the campaign asks for it
            detect_machine=call.detect_machine or policy.asterisk_amd,
            record=policy.recording.records,
        )

        async def done(_request: CallRequest, finished: FinishedCall) -> None:
            try:
                await on_done(call, finished)
            finally:
                self.running -= 1

        try:
            self.initiator.launch(request, done)
        except Exception:
            self.running -= 1
            raise
