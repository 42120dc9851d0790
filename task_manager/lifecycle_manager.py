"""Periodic oversight: recover stuck work, tell the person what waits on them, close
finished campaigns with a summary.

Stuck work is a task in_progress whose lease lapsed (the process running its call died
or lost the database) — or, at start-up, one this node had claimed before it was killed.
Its call row, if still dialing/ringing/answered, is closed as interrupted, and the
analyzer decides the task from the call row (an interrupted attempt is retried, not
counted). Everything here is safe with several processes sweeping at once: each change
is a version-checked or conditional update, and only the winner sends a notification.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from call_processor.dead_calls import close_dead_call
from call_processor.finished_call import FinishedCall
from common.owned_tasks import TaskOwner
from database.errors import VersionConflict
from database.models import Call, Campaign, Task
from database.repositories import calls, campaigns, feedback, tasks, webhook_outbox
from database.repositories.base import affected
from database.repositories.claim_candidates import status_in
from database.states import CallDirection, CallStatus, CampaignStatus, TaskActor, TaskStatus
from database.types import utcnow
from task_manager.call_launcher import PlannedCall
from task_manager.campaign_summary import OPEN_STATES, build_summary
from task_manager.notifier import Notifier
from task_manager.post_call_analyzer import PostCallAnalyzer

log = logging.getLogger(__name__)
NOTIFIED_KEY = "needs_user_notified_attempt"  # in inter_call_context
LIVE_CALL = (CallStatus.DIALING, CallStatus.RINGING, CallStatus.ANSWERED)
LIVE_TASK = (TaskStatus.SCHEDULED, TaskStatus.IN_PROGRESS)
GRACE = timedelta(minutes=2)  # a task decided a moment ago: its call's own write may be late
LONGEST_CALL = timedelta(hours=6)  # a transferred call is followed up to 4 h, hold up to 30 min
BATCH = 200


@dataclass(frozen=True, slots=True)
class SweepReport:
    recovered: int
    notified: int
    campaigns_finished: int
    questions_expired: int = 0
    calls_closed: int = 0


class TaskLifecycleManagerService:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        analyzer: PostCallAnalyzer,
        notifier: Notifier,
        node_id: str,
        interval: float = 30.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.analyzer = analyzer
        self.notifier = notifier
        self.node_id = node_id
        self.interval = interval
        self.clock = clock
        self._owner = TaskOwner("lifecycle")
        self._stopping = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Recover what a killed predecessor on this node left, at once, then sweep."""
        self._owner, self._stopping = TaskOwner("lifecycle"), asyncio.Event()
        await self.sweep(startup=True)
        self._loop = self._owner.spawn(self._run(), "loop")

    async def stop(self, grace: float = 5.0) -> None:
        """Let a sweep in progress finish its transaction, then cancel what is left."""
        self._stopping.set()
        if self._loop is not None:
            await asyncio.wait([self._loop], timeout=grace)
        await self._owner.aclose()

    async def _run(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval)
            if self._stopping.is_set():
                return
            try:
                await self.sweep()
            except Exception:
                log.exception("lifecycle sweep failed")

    async def sweep(self, startup: bool = False) -> SweepReport:
        now = self.clock()
        report = SweepReport(
            recovered=await self.recover_stuck(now, startup),
            notified=await self.notify_waiting(),
            campaigns_finished=await self.finish_campaigns(now),
            questions_expired=await self.expire_questions(now),
            calls_closed=await self.close_abandoned_calls(now),
        )
        if startup:
            await self._close_orphan_calls(now)
        if any(_fields(report).values()):
            log.info("lifecycle sweep", extra=_fields(report))
        return report

    async def recover_stuck(self, now: datetime, startup: bool = False) -> int:
        lapsed = Task.lease_expires_at.is_(None) | (Task.lease_expires_at < now)
        stuck = lapsed | (Task.claimed_by == self.node_id) if startup else lapsed
        async with self.sessions() as s:
            rows = list(
                await s.scalars(
                    select(Task).where(status_in(TaskStatus.IN_PROGRESS), stuck).limit(BATCH)
                )
            )
        recovered = 0
        for task in rows:
            recovered += await self._recover(task, now)
        return recovered

    async def _recover(self, task: Task, now: datetime) -> int:
        finished = await self._close_call(task, now)
        planned = PlannedCall(
            user_id=task.user_id,
            task_id=task.id,
            phone_number=task.phone_number,
            attempt_number=task.attempt_count,
            campaign_id=task.campaign_id,
        )
        verdict = await self.analyzer.decide(planned, finished)
        status = await self.analyzer.apply(planned, finished, verdict, TaskActor.LIFECYCLE)
        log.warning("stuck task recovered", extra={"task_id": task.id, "status": str(status)})
        return int(status is not None)

    async def _close_call(self, task: Task, now: datetime) -> FinishedCall:
        """This attempt's call, read from its row; a still-live row is closed as interrupted
        first (the process that followed the call is gone)."""
        async with self.sessions() as s, s.begin():
            rows = await calls.list_for_task(s, user_id=task.user_id, task_id=task.id)
            mine = [  # a call-back shares the attempt's number; it is not the attempt
                c
                for c in rows
                if c.attempt_number == task.attempt_count and c.direction == CallDirection.OUTBOUND
            ]
            call = mine[-1] if mine else None
            if call is None:
                return FinishedCall.without_row(None, CallStatus.INTERRUPTED, "lost")
            if call.status in LIVE_CALL:
                call = await close_dead_call(s, call, now)
            return FinishedCall.from_row(call)

    async def _close_orphan_calls(self, now: datetime) -> None:
        """At start-up, every call this node left live: its process is gone (it is us)."""
        await self._close(Call.node_id == self.node_id, now)

    async def close_abandoned_calls(self, now: datetime) -> int:
        """Call rows any node left live that nothing follows any more: their task has moved
        on (the call's closing write was lost), or, without a task, they began longer ago
        than any call lasts. A live task's calls are the recovery's (recover_stuck)."""
        live_task = exists().where(Task.id == Call.task_id, Task.status.in_(LIVE_TASK))
        moved_on = Call.task_id.is_not(None) & ~live_task & (Call.started_at < now - GRACE)
        taskless = Call.task_id.is_(None) & (Call.started_at < now - LONGEST_CALL)
        return await self._close(moved_on | taskless, now)

    async def _close(self, which: ColumnElement[bool], now: datetime) -> int:
        async with self.sessions() as s, s.begin():
            rows = list(
                await s.scalars(select(Call).where(Call.status.in_(LIVE_CALL), which).limit(BATCH))
            )
            for call in rows:
                await close_dead_call(s, call, now)
        if rows:
            log.warning("abandoned calls closed", extra={"calls": len(rows)})
        return len(rows)

    async def expire_questions(self, now: datetime) -> int:
        """Questions to the person past their deadline: the call has moved on without them."""
        async with self.sessions() as s, s.begin():
            return await feedback.expire_due(s, now=now)

    async def notify_waiting(self) -> int:
        """One notification per task per attempt that ended needing the person."""
        async with self.sessions() as s:
            rows = list(
                await s.scalars(select(Task).where(status_in(TaskStatus.NEEDS_USER)).limit(BATCH))
            )
        notified = 0
        for task in rows:
            if (task.inter_call_context or {}).get(NOTIFIED_KEY) == task.attempt_count:
                continue
            if await self._mark_notified(task):
                await self.notifier.notify(
                    task.user_id,
                    f"A task needs your decision: {task.contact_name or 'a contact'}",
                    f"{task.objective}\n\nWhy: {task.last_decision_reason or 'see the task'}",
                    kind="needs_user",
                )
                notified += 1
        return notified

    async def _mark_notified(self, task: Task) -> bool:
        context = {**(task.inter_call_context or {}), NOTIFIED_KEY: task.attempt_count}
        try:
            async with self.sessions() as s, s.begin():
                updated = await tasks.update_status(
                    s, user_id=task.user_id, task_id=task.id, expected_version=task.version,
                    status=TaskStatus.NEEDS_USER, actor=TaskActor.LIFECYCLE,
                    inter_call_context=context,
                )  # fmt: skip
        except VersionConflict:
            return False  # someone else notified, or the task moved on
        return updated is not None

    async def finish_campaigns(self, now: datetime) -> int:
        """Active campaigns with no open task: completed, summarised, sent to the person."""
        open_task = exists().where(Task.campaign_id == Campaign.id, Task.status.in_(OPEN_STATES))
        any_task = exists().where(Task.campaign_id == Campaign.id)
        query = select(Campaign).where(
            Campaign.status == CampaignStatus.ACTIVE, any_task, ~open_task
        )
        async with self.sessions() as s:
            done = list(await s.scalars(query.limit(BATCH)))
        finished = 0
        for campaign in done:
            finished += await self._finish(campaign, now)
        return finished

    async def _finish(self, campaign: Campaign, now: datetime) -> int:
        async with self.sessions() as s, s.begin():
            rows = await tasks.list_for_user(s, user_id=campaign.user_id, campaign_id=campaign.id)
            if any(t.status in OPEN_STATES for t in rows):
                return 0
            summary = build_summary(campaign, rows)
            touched = await affected(
                s,
                update(Campaign)
                .where(Campaign.id == campaign.id, Campaign.status == CampaignStatus.ACTIVE)
                .values(status=CampaignStatus.COMPLETED, finished_at=now, summary=summary.text)
                .execution_options(synchronize_session=False),
            )
            if touched != 1:
                return 0  # another process finished it
            finished = await campaigns.get(s, user_id=campaign.user_id, campaign_id=campaign.id)
            if finished is not None:
                await webhook_outbox.campaign_finished(s, finished)
        kind = "campaign_failed" if summary.could_not_finish else "campaign_summary"
        await self.notifier.notify(campaign.user_id, summary.subject, summary.text, kind=kind)
        return 1


def _fields(report: SweepReport) -> dict[str, int]:
    return {
        "recovered": report.recovered,
        "notified": report.notified,
        "campaigns_finished": report.campaigns_finished,
        "questions_expired": report.questions_expired,
        "calls_closed": report.calls_closed,
    }
