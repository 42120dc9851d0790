"""The scheduler: claims due tasks, decides whether each may be called now, launches calls.

Tasks of a paused campaign are not claimed at all (tasks.claim_due); they wait, due, and
the claim takes them again once the campaign is resumed.

Per claimed task, in the claim's own transaction: campaign stopped or goal met → stand
down; number on the user's or the global DND list → cancelled_dnd; attempts used up →
failed; outside the callee's local window → back to the queue at the window's next
opening; otherwise in_progress and launched after commit. A launched task's lease is
renewed while its call runs, so a task whose process died is noticed by the lifecycle
manager once the lease lapses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from call_processor.finished_call import FinishedCall
from common.owned_tasks import TaskOwner
from config.settings import CallingSettings
from database.models import Campaign, DndEntry, Task, User
from database.repositories import calls, campaigns, tasks, users
from database.states import CampaignStatus, TaskStatus
from database.types import utcnow
from task_manager import campaign_goals
from task_manager.call_launcher import CallLauncher, OnCallDone, PlannedCall
from task_manager.calling_hours import (
    CallingWindow,
    WindowOverride,
    callee_zones,
    next_allowed,
    override_from_dict,
    override_from_preferred,
    parse_days,
    resolve_window,
)
from task_manager.orchestrator import WINDOW_KEY

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
Unready = Callable[[], Awaitable[str | None]]
MAX_ROUNDS = 20  # claim rounds per tick: deferred tasks free capacity for the next round


def default_window(calling: CallingSettings) -> CallingWindow:
    return CallingWindow(
        calling.calling_hours_start, calling.calling_hours_end, parse_days(calling.calling_days)
    )


@dataclass
class _Round:
    """What one claim transaction has already loaded, so 100 tasks cost a few queries."""

    s: AsyncSession
    claimed: list[Task]
    dnd: set[tuple[int | None, str]] | None = None
    campaigns: dict[int, Campaign | None] = field(default_factory=dict)
    successes: dict[int, int] = field(default_factory=dict)
    users: dict[int, User | None] = field(default_factory=dict)
    day_calls: dict[int, list[datetime]] = field(default_factory=dict)

    async def preload(self) -> None:
        """The round's campaigns and users in one query each, not one per task (a round
        of 50 tasks from 50 campaigns cost 100 queries: issue 16)."""
        campaign_ids = {t.campaign_id for t in self.claimed} - {None}
        if campaign_ids:
            query = select(Campaign).where(Campaign.id.in_(campaign_ids))
            self.campaigns = {c.id: c for c in await self.s.scalars(query)}
        user_ids = {t.user_id for t in self.claimed}
        if user_ids:
            query_users = select(User).where(User.id.in_(user_ids))
            self.users = {u.id: u for u in await self.s.scalars(query_users)}

    async def campaign(self, task: Task) -> Campaign | None:
        """The task's campaign, if it is the task's user's (as campaigns.get)."""
        if task.campaign_id is None:
            return None
        if task.campaign_id not in self.campaigns:
            self.campaigns[task.campaign_id] = await campaigns.get(
                self.s, user_id=task.user_id, campaign_id=task.campaign_id
            )
        campaign = self.campaigns[task.campaign_id]
        return campaign if campaign is not None and campaign.user_id == task.user_id else None

    async def success_count(self, campaign: Campaign) -> int:
        if campaign.id not in self.successes:
            self.successes[campaign.id] = await campaign_goals.successes(self.s, campaign.id)
        return self.successes[campaign.id]

    async def blocked(self, task: Task) -> bool:
        """On the user's or the global DND list; one query for the whole round."""
        if self.dnd is None:
            numbers = {t.phone_number for t in self.claimed}
            self.dnd = await _dnd_pairs(self.s, numbers)
        return (None, task.phone_number) in self.dnd or (
            task.user_id,
            task.phone_number,
        ) in self.dnd

    async def day_full(self, task: Task, per_day: int, now: datetime) -> datetime | None:
        """When this user may place a call again, if their last 24 h are full; else None
        (and this call is counted towards them)."""
        since = now - timedelta(days=1)
        if task.user_id not in self.day_calls:
            self.day_calls[task.user_id] = await calls.started_since(
                self.s, user_id=task.user_id, since=since
            )
        started = self.day_calls[task.user_id]
        if len(started) >= per_day:
            return started[-per_day] + timedelta(days=1)
        started.append(now)
        return None

    async def user(self, user_id: int) -> User | None:
        if user_id not in self.users:
            self.users[user_id] = await users.get(self.s, user_id)
        return self.users[user_id]


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
        self.window = default_window(calling)
        self.per_user = calling.max_calls_per_user or None
        self.per_day = calling.max_calls_per_user_per_day or None
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
            context = _Round(s, claimed)
            await context.preload()
            planned = [await self._decide(context, task, now) for task in claimed]
            await s.flush()  # StaleDataError: another writer won; the round rolls back
        return [p for p in planned if p is not None], len(claimed)

    async def _decide(self, r: _Round, task: Task, now: datetime) -> PlannedCall | None:
        campaign = await r.campaign(task)
        stand_down = await self._stand_down_reason(r, campaign)
        if stand_down is not None:
            _set(task, stand_down[0], stand_down[1])
            return None
        if await r.blocked(task):
            _set(task, TaskStatus.CANCELLED_DND, "the number is on a do-not-call list")
            return None
        if task.attempt_count >= task.max_attempts:
            _set(task, TaskStatus.FAILED, "all attempts were used")
            return None
        opening = await self._window_opening(r, task, campaign, now)
        if opening is None:
            reason = "no time is inside the calling window in every time zone of the number"
            _set(task, TaskStatus.FAILED, reason)
            return None
        if opening > now:
            _defer(task, opening)
            return None
        if self.per_day is not None and (wait := await r.day_full(task, self.per_day, now)):
            _defer(task, wait, f"waiting: {self.per_day} calls in 24 hours is the most allowed")
            return None
        return await self._start(r, task, campaign, now)

    async def _stand_down_reason(
        self, r: _Round, campaign: Campaign | None
    ) -> tuple[TaskStatus, str] | None:
        if campaign is None:
            return None
        if campaign.status == CampaignStatus.CANCELLED:
            return TaskStatus.CANCELLED, "the campaign was cancelled"
        has_goal = campaign.stop_after_successes is not None  # else nothing to count
        if has_goal and campaign_goals.goal_met(campaign, await r.success_count(campaign)):
            return TaskStatus.GOAL_MET_ELSEWHERE, campaign_goals.GOAL_MET_REASON
        if campaign.status == CampaignStatus.COMPLETED:
            return TaskStatus.CANCELLED, "the campaign is already completed"
        return None

    async def _window_opening(
        self, r: _Round, task: Task, campaign: Campaign | None, now: datetime
    ) -> datetime | None:
        user = await r.user(task.user_id)
        preferred = user.profile.calling_window if user is not None else None
        task_window = (task.inter_call_context or {}).get(WINDOW_KEY) or {}
        window = resolve_window(
            self.window,
            override_from_preferred(preferred),
            _campaign_override(campaign),
            override_from_dict(task_window),
        )
        if window is None:
            return None  # the person's, plan's and task's windows leave no time at all
        return next_allowed(now, await self._zones(r, task), window)

    async def _zones(self, r: _Round, task: Task) -> tuple[ZoneInfo, ...]:
        """The callee's time zones: the task's own, else those of the number."""
        user = await r.user(task.user_id)
        fallback = user.time_zone if user is not None else "UTC"
        task_window = (task.inter_call_context or {}).get(WINDOW_KEY)
        return callee_zones(task.phone_number, task_window, fallback)

    async def _start(
        self, r: _Round, task: Task, campaign: Campaign | None, now: datetime
    ) -> PlannedCall:
        zone = (await self._zones(r, task))[0]
        attempt = task.attempt_count + 1
        task.status = TaskStatus.IN_PROGRESS
        task.attempt_count = attempt
        task.lease_expires_at = now + self.lease
        return PlannedCall(
            user_id=task.user_id,
            task_id=task.id,
            phone_number=task.phone_number,
            attempt_number=attempt,
            campaign_id=task.campaign_id,
            context=agent_context(task, campaign, attempt, zone),
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


async def _dnd_pairs(s: AsyncSession, numbers: set[str]) -> set[tuple[int | None, str]]:
    """(user_id, number) DND entries for these numbers; user_id None is the global list."""
    rows = await s.execute(
        select(DndEntry.user_id, DndEntry.phone_number).where(DndEntry.phone_number.in_(numbers))
    )
    return {(user_id, number) for user_id, number in rows}


def _campaign_override(campaign: Campaign | None) -> WindowOverride | None:
    if campaign is None:
        return None
    days = parse_days(campaign.window_days) if campaign.window_days else None
    return WindowOverride(start=campaign.window_start, end=campaign.window_end, days=days)


def _set(task: Task, status: TaskStatus, reason: str) -> None:
    """Changes to claimed rows are flushed with the round; the version check applies."""
    task.status = status
    task.last_decision = str(status)
    task.last_decision_reason = reason
    task.claimed_by = None
    task.lease_expires_at = None


def _defer(task: Task, opening: datetime, why: str | None = None) -> None:
    """Back to the queue, due when the callee's window next opens (or `why` clears)."""
    task.status = TaskStatus.RETRY_SCHEDULED if task.attempt_count else TaskStatus.PENDING
    task.next_action_time = opening
    task.claimed_by = None
    task.lease_expires_at = None
    if why is not None:
        task.last_decision_reason = why
