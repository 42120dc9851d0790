"""The scheduler: claims due tasks, decides whether each may be called now, launches calls.

Tasks of a paused campaign are not claimed at all (tasks.claim_due); they wait, due, and
the claim takes them again once the campaign is resumed.

Per claimed task, in the claim's own transaction, the rules of call_rules.py decide:
campaign stopped or goal met → stand down; number on the user's or the global DND list →
cancelled_dnd; attempts used up → failed; outside the callee's local window → back to the
queue at the window's next opening; otherwise in_progress and launched after commit. A
launched task's lease is renewed while its call runs, so a task whose process died is
noticed by the lifecycle manager once the lease lapses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from call_processor.finished_call import FinishedCall
from common.owned_tasks import TaskOwner
from config.settings import CallingSettings
from database.models import Campaign, Task
from database.repositories import campaigns, task_events, tasks
from database.states import TaskActor, TaskStatus
from database.types import utcnow
from task_manager.call_launcher import CallLauncher, OnCallDone, PlannedCall
from task_manager.call_rules import CallRules, Go, RoundCache, Stop, default_window
from task_manager.orchestrator import WINDOW_KEY

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
Unready = Callable[[], Awaitable[str | None]]
MAX_ROUNDS = 20  # claim rounds per tick: deferred tasks free capacity for the next round
__all__ = ["TaskSchedulerService", "agent_context", "default_window"]


SCHEDULER_POLL = 2.0  # seconds between claims when nothing woke the scheduler
SCHEDULER_LEASE = timedelta(minutes=2)  # a claimed task's lease, renewed during its call


class TaskSchedulerService:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        launcher: CallLauncher,
        on_call_done: OnCallDone,
        calling: CallingSettings,
        node_id: str,
        poll_interval: float = SCHEDULER_POLL,
        lease: timedelta = SCHEDULER_LEASE,
        clock: Clock = utcnow,
        unready: Unready | None = None,
    ) -> None:
        """`unready()` says why calls cannot be placed now (AMI down, the bus down), or
        None: while it says why, nothing is claimed, so no attempt is spent on a call that
        cannot leave; claiming resumes by itself when it answers None."""
        self.sessions = sessions
        self.launcher = launcher
        self.on_call_done = on_call_done
        self.rules = CallRules.from_settings(calling)
        self.per_user = calling.max_calls_per_user or None
        self.node_id = node_id
        self.poll_interval = poll_interval
        self.lease = lease
        self.clock = clock
        self.unready = unready
        self.paused_for: str | None = None  # why claiming is paused, for logs and /readyz
        self.in_flight: dict[int, PlannedCall] = {}
        self._renewed_at: datetime | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._owner = TaskOwner("scheduler")
        self._loop: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._owner, self._stopping = TaskOwner("scheduler"), False
        self._loop = self._owner.spawn(self._run(), "loop")

    async def stop(self, grace: float = 5.0) -> None:
        """Stop claiming: let a tick in progress commit (a cancel mid-transaction would
        strand its connection), then cancel. Calls in flight belong to the launcher."""
        self._stopping = True
        self._wake.set()
        if self._loop is not None:
            await asyncio.wait([self._loop], timeout=grace)
        await self._owner.aclose()

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()  # before the tick: a call ending during it wakes the next one
            try:
                await self.tick()
            except Exception:  # a database blip must not end scheduling for good
                log.exception("scheduler tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)

    async def tick(self) -> list[PlannedCall]:
        """One pass: renew leases of our calls, then claim and launch up to capacity."""
        now = self.clock()
        await self._renew_leases(now)
        if await self._paused():
            return []
        launched: list[PlannedCall] = []
        for _ in range(MAX_ROUNDS):
            free = self.launcher.capacity()
            if free <= 0:
                break
            try:
                planned, claimed = await self._claim_round(now, free)
            except StaleDataError:  # a task changed under us: nothing was claimed, try later
                log.info("claim round lost a race; retrying next tick")
                break
            for call in planned:
                self._launch(call)
            launched += planned
            if claimed < free:
                break
        return launched

    async def _paused(self) -> bool:
        reason = await self.unready() if self.unready is not None else None
        if reason != self.paused_for:
            if reason is None:
                log.info("claiming again: calls can be placed", extra={"was": self.paused_for})
            else:
                log.warning("not claiming: calls cannot be placed now", extra={"why": reason})
        self.paused_for = reason
        return reason is not None

    def _launch(self, call: PlannedCall) -> None:
        self.in_flight[call.task_id] = call
        try:
            self.launcher.launch(call, self._call_done)
        except Exception:  # not launched: stop renewing its lease so it is recovered
            self.in_flight.pop(call.task_id, None)
            raise
        log.info("call launched", extra={"task_id": call.task_id, "attempt": call.attempt_number})

    async def _call_done(self, call: PlannedCall, finished: FinishedCall) -> None:
        try:
            await self.on_call_done(call, finished)
        finally:
            self.in_flight.pop(call.task_id, None)
            self._wake.set()  # a slot is free: look for the next task now

    async def _claim_round(self, now: datetime, limit: int) -> tuple[list[PlannedCall], int]:
        async with self.sessions() as s, s.begin():
            claimed = await tasks.claim_due(
                s, now=now, node_id=self.node_id, lease=self.lease, limit=limit,
                per_user=self.per_user,
            )  # fmt: skip
            context = RoundCache(s, claimed)
            await context.preload()  # the round's campaigns and users, one query each
            planned = [await self._decide(context, task, now) for task in claimed]
            await s.flush()  # StaleDataError: another writer won; the round rolls back
        return [p for p in planned if p is not None], len(claimed)

    async def _decide(self, r: RoundCache, task: Task, now: datetime) -> PlannedCall | None:
        """The rules' verdict (call_rules.py), acted on: end, requeue or start the task;
        every change of status goes through task_events (stored and streamed)."""
        verdict = await self.rules.verdict(r, task, now)
        if isinstance(verdict, Stop):
            await _set(r.s, task, verdict.status, verdict.reason)
            return None
        if not isinstance(verdict, Go):
            await _defer(r.s, task, verdict.until, verdict.why)
            return None
        return await self._start(r, task, verdict, now)

    async def _start(self, r: RoundCache, task: Task, go: Go, now: datetime) -> PlannedCall:
        attempt = task.attempt_count + 1
        await task_events.move(
            r.s, task, TaskStatus.IN_PROGRESS, actor=TaskActor.SCHEDULER,
            reason=f"calling (attempt {attempt})", attempt_count=attempt,
            lease_expires_at=now + self.lease,
        )  # fmt: skip
        return PlannedCall(
            user_id=task.user_id,
            task_id=task.id,
            phone_number=task.phone_number,
            attempt_number=attempt,
            campaign_id=task.campaign_id,
            context=agent_context(task, go.campaign, attempt, go.zone),
        )

    async def _renew_leases(self, now: datetime) -> None:
        """Keep our running calls' tasks leased; a dead process stops renewing."""
        due = self._renewed_at is None or now - self._renewed_at >= self.lease / 4
        if not self.in_flight or not due:
            return
        async with self.sessions() as s, s.begin():
            await s.execute(
                update(Task)
                .where(
                    Task.id.in_(list(self.in_flight)),
                    Task.claimed_by == self.node_id,
                    Task.status == TaskStatus.IN_PROGRESS,
                )
                .values(lease_expires_at=now + self.lease)
                .execution_options(synchronize_session=False)
            )
        self._renewed_at = now


def agent_context(
    task: Task, campaign: Campaign | None, attempt: int, zone: ZoneInfo
) -> dict[str, Any]:
    """What the agent is told about this attempt (call_processor/agent_brief.py reads it):
    the task, the campaign's goal and language, the attempt, the callee's time zone, and
    what earlier attempts learned (the analyzer's history). The window is the scheduler's."""
    notes = {k: v for k, v in (task.inter_call_context or {}).items() if k != WINDOW_KEY}
    return {
        "objective": task.objective,
        "contact_name": task.contact_name,
        "context": task.context,
        "success_criteria": task.success_criteria,
        "campaign_goal": campaign.goal if campaign is not None else "",
        "language": campaign.language if campaign is not None else "",
        "attempt_number": attempt,
        "max_attempts": task.max_attempts,
        "callee_time_zone": zone.key,
        "inter_call_context": notes,
        # machines and hold: voicemail_policy, voicemail_message_counts, max_hold_minutes,
        # asterisk_amd (common/call_policy.py; the campaign's, else the defaults)
        **campaigns.policy_of(campaign).to_context(),
    }


async def _set(s: AsyncSession, task: Task, status: TaskStatus, reason: str) -> None:
    """Changes to claimed rows are flushed in the round; the version check applies."""
    await task_events.move(
        s, task, status, actor=TaskActor.SCHEDULER, reason=reason, last_decision=str(status),
        last_decision_reason=reason, claimed_by=None, lease_expires_at=None,
    )  # fmt: skip


async def _defer(s: AsyncSession, task: Task, opening: datetime, why: str | None = None) -> None:
    """Back to the queue, due when the callee's window next opens (or `why` clears)."""
    back = TaskStatus.RETRY_SCHEDULED if task.attempt_count else TaskStatus.PENDING
    changes: dict[str, Any] = {"next_action_time": opening, "claimed_by": None,
                               "lease_expires_at": None}  # fmt: skip
    if why is not None:
        changes["last_decision_reason"] = why
    reason = why or "outside the calling window; due when it opens"
    await task_events.move(s, task, back, actor=TaskActor.SCHEDULER, reason=reason, **changes)
