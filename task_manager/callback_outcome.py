"""A call-back (the person ringing the number we called them from) decides its task too.

It is judged like any call (PostCallAnalyzer.decide: the rule table, the LLM judge, else
the agent's end_call outcome), but applied differently, because it is not an attempt:
- it never counts against the task's attempts (`attempt_count` is left alone: they
  called us, the budget is for calls we place);
- a success, a refusal, a do-not-call or a question for the person changes the task
  while it is waiting (pending, retry_scheduled, needs_user) or has failed (all attempts
  used: the call-back may still reach the objective); a do-not-call always puts the
  number on the person's list;
- "retry" changes nothing: the task keeps its own schedule;
- a task that is being called right now (scheduled, in_progress) is that attempt's to
  decide, and a finished one (succeeded, cancelled, ...) stays finished.
In every case the lesson goes into the task's history for the next attempt's agent.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from call_processor.call_initiator import CallRequest
from call_processor.finished_call import FinishedCall
from database.errors import VersionConflict
from database.models import Task
from database.repositories import campaigns, dnd, tasks
from database.states import TaskActor, TaskStatus
from task_manager import campaign_goals
from task_manager.call_judge import Decision, Verdict
from task_manager.call_launcher import PlannedCall
from task_manager.post_call_analyzer import (
    FINAL_BY_DECISION,
    HISTORY_KEEP,
    HISTORY_KEY,
    PostCallAnalyzer,
)

log = logging.getLogger(__name__)

MAY_CHANGE = frozenset(
    {TaskStatus.PENDING, TaskStatus.RETRY_SCHEDULED, TaskStatus.NEEDS_USER, TaskStatus.FAILED}
)


def callback_status(current: TaskStatus, decision: Decision) -> TaskStatus | None:
    """The task's new status after a call-back's decision; None: it stays as it is."""
    if current not in MAY_CHANGE or decision is Decision.RETRY:
        return None
    new = FINAL_BY_DECISION[decision]
    return None if new == current else new


class CallbackOutcome:
    """The inbound service's on_done: never raises (a lost decision only loses history)."""

    def __init__(self, analyzer: PostCallAnalyzer) -> None:
        self.analyzer = analyzer

    async def on_call_done(self, request: CallRequest, finished: FinishedCall) -> None:
        if request.task_id is None:
            return
        call = PlannedCall(
            user_id=request.user_id,
            task_id=request.task_id,
            phone_number=request.phone_number,
            attempt_number=request.attempt_number,
            context=request.context,
        )
        try:
            verdict = await self.analyzer.decide(call, finished)
            await self.apply(call, verdict)
        except Exception:
            log.exception("call-back analysis failed", extra={"task_id": call.task_id})

    async def apply(self, call: PlannedCall, verdict: Verdict) -> TaskStatus | None:
        """Store the decision; the task's new status, None when it did not change."""
        for _ in range(3):
            try:
                async with self.analyzer.sessions() as s, s.begin():
                    return await self._apply(s, call, verdict)
            except VersionConflict:
                continue  # re-read and decide again on the fresh row
        log.warning("task kept changing; call-back not stored", extra={"task_id": call.task_id})
        return None

    async def _apply(
        self, s: AsyncSession, call: PlannedCall, verdict: Verdict
    ) -> TaskStatus | None:
        task = await tasks.get(s, user_id=call.user_id, task_id=call.task_id)
        if task is None:
            return None
        status = callback_status(task.status, verdict.decision)
        changes: dict[str, Any] = {"inter_call_context": _with_history(task, verdict)}
        if status is not None:
            result = verdict.result if verdict.decision is Decision.SUCCESS else None
            changes |= {"last_decision": str(verdict.decision), "result": result,
                        "last_decision_reason": f"call-back: {verdict.reason}"}  # fmt: skip
        if verdict.decision is Decision.DO_NOT_CALL:  # whatever the task's state: they asked
            await dnd.add(
                s, user_id=task.user_id, phone_number=task.phone_number, reason=verdict.reason
            )
        await tasks.update_status(
            s, user_id=task.user_id, task_id=task.id, expected_version=task.version,
            status=status or task.status, actor=TaskActor.INBOUND, **changes,
        )  # fmt: skip
        if status is TaskStatus.SUCCEEDED and task.campaign_id is not None:
            await _stand_down_if_met(s, task)
        log.info("call-back decided", extra={"task_id": task.id, "status": str(status),
                                            "decision": str(verdict.decision)})  # fmt: skip
        return status


async def _stand_down_if_met(s: AsyncSession, task: Task) -> None:
    assert task.campaign_id is not None
    campaign = await campaigns.get(s, user_id=task.user_id, campaign_id=task.campaign_id)
    if campaign is None or campaign.stop_after_successes is None:
        return
    if campaign_goals.goal_met(campaign, await campaign_goals.successes(s, campaign.id)):
        await campaign_goals.stand_down_rest(s, campaign, TaskActor.INBOUND)


def _with_history(task: Task, verdict: Verdict) -> dict[str, Any]:
    """The call-back's lesson in the task's history (bounded, like an attempt's)."""
    context = dict(task.inter_call_context or {})
    entry = {
        "attempt": task.attempt_count,
        "direction": "inbound",
        "decision": str(verdict.decision),
        "reason": verdict.reason,
        "notes": verdict.notes,
    }
    context[HISTORY_KEY] = [*list(context.get(HISTORY_KEY) or []), entry][-HISTORY_KEEP:]
    return context
