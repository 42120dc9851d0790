"""After each call: decide the task's next state and store the decision with its reason.

Unanswered outcomes (busy, no answer, congestion, failed) and our own failures (ai_failure,
interrupted) are decided by a table, without an LLM; so are answering machines (by the
campaign's voicemail policy: never a success unless the campaign counts a left message)
and holds past the campaign's limit. Any other answered call is read by the LLM judge
when one is configured, else the agent's own end_call outcome decides.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from call_processor.finished_call import FinishedCall, NotPlaced
from common.call_outcomes import AgentOutcome
from common.call_policy import CallPolicy, VoicemailPolicy
from common.commands import PERSON_HANGUP
from database.errors import VersionConflict
from database.models import Campaign, Task
from database.repositories import campaigns, dnd, phone_codes, tasks, turns
from database.states import CallStatus, TaskActor, TaskStatus
from database.types import utcnow
from task_manager import campaign_goals
from task_manager.call_judge import CallMaterial, Decision, JudgeFailed, LlmJudge, Verdict
from task_manager.call_launcher import PlannedCall
from task_manager.calling_hours import CallingWindow, callee_zones, next_allowed
from task_manager.orchestrator import WINDOW_KEY

log = logging.getLogger(__name__)
HISTORY_KEY = "history"  # in inter_call_context: what earlier attempts learned
HISTORY_KEEP = 5
LONGEST_DELAY = timedelta(days=30)
FREE_KEY = "free_retries"  # in inter_call_context: calls that used no attempt, by kind
# Calls that did not reach the callee use no attempt, a few times each: a call that never
# left (AMI or the bus down, a refused Originate; the scheduler also waits while AMI is
# down) and one that broke on our side before an answer. An answered call that broke
# uses its attempt: the callee was rung and spoken to.
FREE_RETRIES = {"not_placed": 5, "interrupted_unanswered": 2}
HISTORY_FACTS = 20

PERSON_HUNG_UP = "you hung up this call: mark the task done, retry it or fail it"
RULES: dict[str, str] = {
    CallStatus.BUSY: "the line was busy",
    CallStatus.NO_ANSWER: "nobody answered",
    CallStatus.CONGESTION: "the network was congested",
    CallStatus.FAILED: "the call could not be placed",
    CallStatus.AI_FAILURE: "the voice agent failed",
    CallStatus.INTERRUPTED: "the call was interrupted on our side",
}
AGENT_OUTCOMES: dict[AgentOutcome, Decision] = {
    AgentOutcome.SUCCESS: Decision.SUCCESS,
    AgentOutcome.FAILURE: Decision.FAILED,
    AgentOutcome.WRONG_NUMBER: Decision.FAILED,
    AgentOutcome.CALLBACK_REQUESTED: Decision.RETRY,
    AgentOutcome.VOICEMAIL: Decision.RETRY,
    AgentOutcome.NEEDS_USER: Decision.NEEDS_USER,
    AgentOutcome.DO_NOT_CALL: Decision.DO_NOT_CALL,
}
FINAL_BY_DECISION = {
    Decision.SUCCESS: TaskStatus.SUCCEEDED,
    Decision.FAILED: TaskStatus.FAILED,
    Decision.NEEDS_USER: TaskStatus.NEEDS_USER,
    Decision.DO_NOT_CALL: TaskStatus.CANCELLED_DND,
}


VOICEMAIL = "voicemail"  # backoff kinds beside the call statuses
HOLD_TIMEOUT = "hold_timeout"


def rule_verdict(finished: FinishedCall, policy: CallPolicy | None = None) -> Verdict | None:
    """The deterministic table; None when the call was answered and needs reading."""
    if finished.end_reason == NotPlaced.DO_NOT_CALL:  # refused before dialing
        return Verdict(Decision.DO_NOT_CALL, "the number is on a do-not-call list", "rule")
    if finished.end_reason == PERSON_HANGUP:  # they took it in hand: no call behind their back
        return Verdict(Decision.NEEDS_USER, PERSON_HUNG_UP, "rule")
    if finished.status in RULES:
        return Verdict(Decision.RETRY, RULES[finished.status], "rule")
    if finished.transferred:
        return Verdict(Decision.NEEDS_USER, "the call was transferred to you", "rule")
    if finished.machine:
        return voicemail_verdict(finished, policy or CallPolicy())
    if finished.hold_timed_out:
        minutes = (policy or CallPolicy()).max_hold_minutes
        return Verdict(Decision.RETRY, f"on hold longer than {minutes} minutes", "rule")
    return None


def voicemail_verdict(finished: FinishedCall, policy: CallPolicy) -> Verdict:
    """An answering machine: the campaign's policy decides, and only a left message that
    the campaign counts can be a success (never the judge's or the agent's reading)."""
    if policy.voicemail is VoicemailPolicy.NOTIFY_PERSON:
        reason = "an answering machine answered; the campaign asks you what to do next"
        return Verdict(Decision.NEEDS_USER, reason, "rule")
    if finished.message_left and policy.message_counts:
        reason = "a message was left on the answering machine, which this campaign counts"
        return Verdict(Decision.SUCCESS, reason, "rule", result={"voicemail": "message left"})
    if finished.message_left:
        return Verdict(Decision.RETRY, "a message was left on the answering machine", "rule")
    if policy.voicemail is VoicemailPolicy.LEAVE_MESSAGE:
        reason = "an answering machine answered and no message could be left"
        return Verdict(Decision.RETRY, reason, "rule")
    return Verdict(Decision.RETRY, "an answering machine answered", "rule")


def agent_verdict(finished: FinishedCall) -> Verdict:
    """Fallback without an LLM: trust the agent's end_call outcome."""
    outcome = finished.agent_outcome
    if outcome is None:  # hung up on, or the agent never said: not a success
        return Verdict(Decision.RETRY, "the call ended without a clear outcome", "agent")
    decision = AGENT_OUTCOMES[outcome]
    reason = finished.summary or f"the agent reported {outcome}"
    result = dict(finished.facts) or None if decision is Decision.SUCCESS else None
    return Verdict(decision, reason, "agent", result=result)


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter, per kind of failure (busy lines clear sooner)."""

    base: dict[str, timedelta] = field(
        default_factory=lambda: {
            CallStatus.BUSY: timedelta(minutes=10),
            CallStatus.NO_ANSWER: timedelta(minutes=30),
            CallStatus.CONGESTION: timedelta(minutes=5),
            CallStatus.FAILED: timedelta(minutes=15),
            CallStatus.AI_FAILURE: timedelta(minutes=5),
            CallStatus.INTERRUPTED: timedelta(minutes=1),
            VOICEMAIL: timedelta(hours=2),  # nobody picked up: a while before trying again
            HOLD_TIMEOUT: timedelta(minutes=30),
        }
    )
    default: timedelta = timedelta(minutes=60)
    cap: timedelta = timedelta(hours=24)
    jitter: float = 0.25  # ± fraction, so retries of one campaign do not all ring at once

    def clamp(self, minutes: float) -> timedelta:
        """A delay someone else proposed (the LLM judge), kept within [the shortest
        backoff, 30 days]: a judge's 1e10 or NaN must neither crash nor park a task."""
        shortest = min(self.base.values(), default=self.default)
        if not math.isfinite(minutes):
            return LONGEST_DELAY if minutes > 0 else shortest
        return max(shortest, min(LONGEST_DELAY, timedelta(minutes=max(0.0, minutes))))

    def delay(self, kind: str, attempt: int, rng: random.Random) -> timedelta:
        plain = self.base.get(kind, self.default) * (2 ** max(0, attempt - 1))
        capped: timedelta = min(self.cap, plain)
        return capped * rng.uniform(1 - self.jitter, 1 + self.jitter)


class PostCallAnalyzer:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        judge: LlmJudge | None = None,
        backoff: Backoff | None = None,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
        window: CallingWindow | None = None,
    ) -> None:
        """`window`: the operator's calling hours; a callback the callee asked for moves
        into them (the scheduler narrows it further by the person's and plan's windows)."""
        self.sessions = sessions
        self.judge = judge
        self.backoff = backoff or Backoff()
        self.clock = clock
        self.rng = rng or random.Random()
        self.window = window

    async def on_call_done(self, call: PlannedCall, finished: FinishedCall) -> None:
        """The scheduler's OnCallDone: never raises, a failed analysis is recovered later."""
        try:
            verdict = await self.decide(call, finished)
            await self.apply(call, finished, verdict)
        except Exception:
            log.exception("post-call analysis failed", extra={"task_id": call.task_id})

    async def decide(self, call: PlannedCall, finished: FinishedCall) -> Verdict:
        verdict = rule_verdict(finished, CallPolicy.from_context(call.context))
        if verdict is not None:
            return verdict
        if phone_codes.is_verification(call.context.get("inter_call_context")):
            # Never the judge's words: they could quote the code where the person reads it.
            return Verdict(Decision.SUCCESS, "the code was read out on the call", "rule")
        if self.judge is None:
            return agent_verdict(finished)
        try:
            return await self.judge.judge(await self._material(call, finished))
        except JudgeFailed as exc:
            log.warning("LLM judge failed; using the agent's outcome", extra={"error": str(exc)})
            return agent_verdict(finished)

    async def _material(self, call: PlannedCall, finished: FinishedCall) -> CallMaterial:
        """What the judge reads: the task, the transcript and how the call ended."""
        async with self.sessions() as s:
            said = []
            if finished.call_id is not None:
                rows = await turns.list_for_call(s, user_id=call.user_id, call_id=finished.call_id)
                said = [(_speaker(t.speaker, t.cut_at_ms), t.text) for t in rows]
            task = await tasks.get(s, user_id=call.user_id, task_id=call.task_id)
        cause = f"{finished.hangup_cause or ''} {finished.hangup_cause_text or ''}".strip()
        return CallMaterial(
            objective=task.objective if task else str(call.context.get("objective", "")),
            success_criteria=task.success_criteria if task else "",
            contact_name=task.contact_name if task else "",
            transcript=said,
            facts=finished.facts,
            hangup_cause=cause,
            ended_by=None if finished.ended_by is None else str(finished.ended_by),
            amd_status=finished.amd_status,
            answered_by=None if finished.answered_by is None else str(finished.answered_by),
            message_left=finished.message_left,
            hold_seconds=finished.hold_seconds,
            agent_outcome=None if finished.agent_outcome is None else str(finished.agent_outcome),
            agent_summary=finished.summary,
            agent_audio_ms=_agent_audio(finished),
            attempt_number=call.attempt_number,
            max_attempts=task.max_attempts if task else call.attempt_number,
            called_back=call.context.get("direction") == "inbound",
        )

    async def apply(
        self,
        call: PlannedCall,
        finished: FinishedCall,
        verdict: Verdict,
        actor: TaskActor = TaskActor.ANALYZER,
    ) -> TaskStatus | None:
        """Store the decision; None when the task is no longer this call's to decide.
        `actor` names who applies it on the task's timeline (the lifecycle manager when it
        recovers a task after a crash)."""
        for _ in range(3):
            try:
                async with self.sessions() as s, s.begin():
                    return await self._apply(s, call, finished, verdict, actor)
            except VersionConflict:
                continue  # re-read and decide again on the fresh row
        log.warning("task kept changing; decision not stored", extra={"task_id": call.task_id})
        return None

    async def _apply(
        self,
        s: AsyncSession,
        call: PlannedCall,
        finished: FinishedCall,
        verdict: Verdict,
        actor: TaskActor,
    ) -> TaskStatus | None:
        task = await tasks.get(s, user_id=call.user_id, task_id=call.task_id)
        if task is None or task.status != TaskStatus.IN_PROGRESS:
            return None  # recovered or cancelled meanwhile: not this call's to decide
        if task.attempt_count != call.attempt_number:
            return None  # a later attempt is live
        campaign = None
        if task.campaign_id is not None:
            campaign = await campaigns.get(s, user_id=task.user_id, campaign_id=task.campaign_id)
        if verdict.decision is not Decision.SUCCESS and await _goal_met(s, campaign):
            met = TaskStatus.GOAL_MET_ELSEWHERE
            return await self._store(s, task, finished, verdict, met, {}, actor)
        free = _free_retry(task, finished)
        status, changes = self._next_state(task, finished, verdict, free)
        if verdict.decision is Decision.DO_NOT_CALL and finished.placed:
            # The callee's wish binds every user of this OpenDeep, not just the one who
            # called: the operator's list, which only the operator can clear (main.py dnd).
            reason = f"callee opted out (task {task.id}): {verdict.reason}"[:500]
            await dnd.add(s, user_id=None, phone_number=task.phone_number, reason=reason)
        if free is not None:
            changes["inter_call_context"] = _count_free(task, free)
        stored = await self._store(s, task, finished, verdict, status, changes, actor)
        if campaign is not None and status is TaskStatus.SUCCEEDED and await _goal_met(s, campaign):
            stood_down = await campaign_goals.stand_down_rest(s, campaign, actor)
            log.info("campaign goal met", extra={"campaign_id": campaign.id, "tasks": stood_down})
        return stored

    def _next_state(
        self, task: Task, finished: FinishedCall, verdict: Verdict, free: str | None
    ) -> tuple[TaskStatus, dict[str, Any]]:
        if verdict.decision is not Decision.RETRY:
            result = verdict.result if verdict.decision is Decision.SUCCESS else None
            return FINAL_BY_DECISION[verdict.decision], {"result": result}
        attempts = task.attempt_count
        if free is not None:  # it never rang, or broke on our side before an answer
            attempts = max(0, attempts - 1)
        if attempts >= task.max_attempts:
            return TaskStatus.FAILED, {"attempt_count": attempts}
        return TaskStatus.RETRY_SCHEDULED, {
            "attempt_count": attempts,
            "next_action_time": self._next_time(task, finished, verdict, attempts),
        }

    def _next_time(
        self, task: Task, finished: FinishedCall, verdict: Verdict, attempts: int
    ) -> datetime:
        """When the callee asked for a time, then (inside calling hours); else the judge's
        delay, else the backoff for how the call ended."""
        if finished.callback_at is not None:
            return self._inside_hours(task, finished.callback_at)
        if verdict.retry_after_minutes is not None:
            delay = self.backoff.clamp(verdict.retry_after_minutes)
        else:
            delay = self.backoff.delay(_backoff_kind(finished), max(1, attempts), self.rng)
        return self.clock() + delay

    def _inside_hours(self, task: Task, at: datetime) -> datetime:
        if self.window is None:
            return at
        stored = (task.inter_call_context or {}).get(WINDOW_KEY)
        opening = next_allowed(at, callee_zones(task.phone_number, stored), self.window)
        return opening or at

    async def _store(
        self,
        s: AsyncSession,
        task: Task,
        finished: FinishedCall,
        verdict: Verdict,
        status: TaskStatus,
        changes: dict[str, Any],
        actor: TaskActor,
    ) -> TaskStatus:
        reason, decision = verdict.reason, str(verdict.decision)
        if status is TaskStatus.FAILED and verdict.decision is Decision.RETRY:
            reason = f"all {task.max_attempts} attempts were used; last: {verdict.reason}"
        if status is TaskStatus.GOAL_MET_ELSEWHERE:
            reason, decision = f"{campaign_goals.GOAL_MET_REASON}; {verdict.reason}", str(status)
        await tasks.update_status(
            s,
            user_id=task.user_id,
            task_id=task.id,
            expected_version=task.version,
            status=status,
            actor=actor,
            last_decision=decision,
            last_decision_reason=reason,
            claimed_by=None,
            lease_expires_at=None,
            inter_call_context=_with_history(
                changes.pop("inter_call_context", task.inter_call_context),
                task.attempt_count,
                finished,
                verdict,
            ),
            **changes,
        )
        log.info("task decided", extra={"task_id": task.id, "status": str(status),
                                        "decision": str(verdict.decision),
                                        "source": verdict.source})  # fmt: skip
        return status


def _speaker(speaker: str, cut_at_ms: int | None) -> str:
    """Who spoke, and for an agent turn cut off, after how long (what the callee heard)."""
    said = str(speaker)
    return said if cut_at_ms is None else f"{said} (cut off after {cut_at_ms / 1000:.1f} s)"


def _backoff_kind(finished: FinishedCall) -> str:
    if finished.machine:
        return VOICEMAIL
    return HOLD_TIMEOUT if finished.hold_timed_out else str(finished.status)


def _agent_audio(finished: FinishedCall) -> tuple[int, int] | None:
    """(played, generated) ms of the agent's voice, when the talker counted them."""
    played, generated = finished.agent_audio_played_ms, finished.agent_audio_generated_ms
    return None if played is None or generated is None else (played, generated)


async def _goal_met(s: AsyncSession, campaign: Campaign | None) -> bool:
    if campaign is None or campaign.stop_after_successes is None:
        return False
    return campaign_goals.goal_met(campaign, await campaign_goals.successes(s, campaign.id))


def _with_history(
    stored: dict[str, Any] | None, attempt: int, finished: FinishedCall, verdict: Verdict
) -> dict[str, Any]:
    """Append what this attempt came to, for the next attempt's agent (bounded): the
    decision and why, what the callee said (the agent's summary), the facts learned and a
    callback they asked for (call_processor/agent_brief.py reads it back)."""
    context = dict(stored or {})
    facts = {str(k)[:100]: str(v)[:300] for k, v in list(finished.facts.items())[:HISTORY_FACTS]}
    callback = str(facts.pop("callback_requested", ""))
    entry = {"attempt": attempt, "decision": str(verdict.decision),
             "reason": verdict.reason, "notes": verdict.notes, "outcome": finished.outcome,
             "summary": finished.summary[:1000], "facts": facts, "callback": callback}  # fmt: skip
    context[HISTORY_KEY] = [*list(context.get(HISTORY_KEY) or []), entry][-HISTORY_KEEP:]
    return context


def _free_retry(task: Task, finished: FinishedCall) -> str | None:
    """The kind of free retry this call earns (it uses no attempt), while any are left."""
    if not finished.placed:
        kind = "not_placed"
    elif finished.status == CallStatus.INTERRUPTED and not finished.answered:
        kind = "interrupted_unanswered"
    else:
        return None
    used = dict((task.inter_call_context or {}).get(FREE_KEY) or {})
    return kind if int(used.get(kind, 0)) < FREE_RETRIES[kind] else None


def _count_free(task: Task, kind: str) -> dict[str, Any]:
    context = dict(task.inter_call_context or {})
    used = dict(context.get(FREE_KEY) or {})
    used[kind] = int(used.get(kind, 0)) + 1
    context[FREE_KEY] = used
    return context
