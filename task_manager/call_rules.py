"""The rules that decide whether a task may be called now: one place for the scheduler,
which acts on them, and for the task outlook, which tells the person why a task waits.

In order: the campaign stopped or its goal met → stand down; the number on the person's
or the operator's do-not-call list → cancelled_dnd; attempts used up → failed; no time in
the callee's window → failed; outside the callee's local window → wait for its opening;
the person's calls for 24 hours used up → wait. Otherwise the task may be called.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from config.settings import CallingSettings
from database.models import Campaign, DndEntry, Task, User
from database.repositories import calls, campaigns, users
from database.states import CampaignStatus, TaskStatus
from task_manager import campaign_goals
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

YOUR_DND = "the number is on your do-not-call list"
OPERATOR_DND = "the number is on the operator's do-not-call list"
NO_WINDOW = "no time is inside the calling window in every time zone of the number"


def default_window(calling: CallingSettings) -> CallingWindow:
    return CallingWindow(
        calling.calling_hours_start, calling.calling_hours_end, parse_days(calling.calling_days)
    )


@dataclass(frozen=True, slots=True)
class Stop:
    """End the task in `status` for `reason`."""

    status: TaskStatus
    reason: str


@dataclass(frozen=True, slots=True)
class Wait:
    """Back to the queue until `until`. `why` None: the callee's calling hours (`zone` is
    the callee's), else the stated reason."""

    until: datetime
    zone: ZoneInfo
    why: str | None = None


@dataclass(frozen=True, slots=True)
class Go:
    """The task may be called now."""

    campaign: Campaign | None
    zone: ZoneInfo


Verdict = Stop | Wait | Go


@dataclass
class RoundCache:
    """What one pass over tasks has already loaded, so 100 tasks cost a few queries."""

    s: AsyncSession
    tasks: list[Task]
    dnd: set[tuple[int | None, str]] | None = None
    campaigns: dict[int, Campaign | None] = field(default_factory=dict)
    successes: dict[int, int] = field(default_factory=dict)
    users: dict[int, User | None] = field(default_factory=dict)
    day_calls: dict[int, list[datetime]] = field(default_factory=dict)

    async def preload(self) -> None:
        """The round's campaigns and users in one query each, not one per task (a round
        of 50 tasks from 50 campaigns cost 100 queries: issue 16)."""
        campaign_ids = {t.campaign_id for t in self.tasks} - {None}
        if campaign_ids:
            query = select(Campaign).where(Campaign.id.in_(campaign_ids))
            self.campaigns = {c.id: c for c in await self.s.scalars(query)}
        user_ids = {t.user_id for t in self.tasks}
        if user_ids:
            self.users = {
                u.id: u for u in await self.s.scalars(select(User).where(User.id.in_(user_ids)))
            }

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

    async def blocked(self, task: Task) -> str | None:
        """Which do-not-call list holds the number, if any; one query for the whole round."""
        if self.dnd is None:
            self.dnd = await _dnd_pairs(self.s, {t.phone_number for t in self.tasks})
        if (task.user_id, task.phone_number) in self.dnd:
            return YOUR_DND
        return OPERATOR_DND if (None, task.phone_number) in self.dnd else None

    async def day_full(
        self, task: Task, per_day: int, now: datetime, count: bool
    ) -> datetime | None:
        """When this user may place a call again, if their last 24 h are full; else None
        (and, with `count`, this call is counted towards them)."""
        if task.user_id not in self.day_calls:
            self.day_calls[task.user_id] = await calls.started_since(
                self.s, user_id=task.user_id, since=now - timedelta(days=1)
            )
        started = self.day_calls[task.user_id]
        if len(started) >= per_day:
            return started[-per_day] + timedelta(days=1)
        if count:
            started.append(now)
        return None

    async def user(self, user_id: int) -> User | None:
        if user_id not in self.users:
            self.users[user_id] = await users.get(self.s, user_id)
        return self.users[user_id]


@dataclass(frozen=True, slots=True)
class CallRules:
    """The operator's window (CALLING_HOURS_*, CALLING_DAYS) and daily limit."""

    window: CallingWindow
    per_day: int | None

    @classmethod
    def from_settings(cls, calling: CallingSettings) -> CallRules:
        return cls(default_window(calling), calling.max_calls_per_user_per_day or None)

    async def verdict(
        self, r: RoundCache, task: Task, now: datetime, *, count: bool = True
    ) -> Verdict:
        """What the rules say about `task` at `now`; `count` False asks without counting
        the call towards the person's daily limit (the outlook only looks)."""
        campaign = await r.campaign(task)
        stand_down = await _stand_down_reason(r, campaign)
        if stand_down is not None:
            return stand_down
        listed = await r.blocked(task)
        if listed is not None:
            return Stop(TaskStatus.CANCELLED_DND, listed)
        if task.attempt_count >= task.max_attempts:
            return Stop(TaskStatus.FAILED, "all attempts were used")
        zones = await self.zones(r, task)
        opening = await self._window_opening(r, task, campaign, zones, now)
        if opening is None:
            return Stop(TaskStatus.FAILED, NO_WINDOW)
        if opening > now:
            return Wait(opening, zones[0])
        if self.per_day is not None and (wait := await r.day_full(task, self.per_day, now, count)):
            why = f"waiting: {self.per_day} calls in 24 hours is the most allowed"
            return Wait(wait, zones[0], why)
        return Go(campaign, zones[0])

    async def zones(self, r: RoundCache, task: Task) -> tuple[ZoneInfo, ...]:
        """The callee's time zones: the task's own, else those of the number."""
        user = await r.user(task.user_id)
        fallback = user.time_zone if user is not None else "UTC"
        task_window = (task.inter_call_context or {}).get(WINDOW_KEY)
        return callee_zones(task.phone_number, task_window, fallback)

    async def _window_opening(
        self,
        r: RoundCache,
        task: Task,
        campaign: Campaign | None,
        zones: tuple[ZoneInfo, ...],
        now: datetime,
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
        return next_allowed(now, zones, window)


async def _stand_down_reason(r: RoundCache, campaign: Campaign | None) -> Stop | None:
    if campaign is None:
        return None
    if campaign.status == CampaignStatus.CANCELLED:
        return Stop(TaskStatus.CANCELLED, "the campaign was cancelled")
    has_goal = campaign.stop_after_successes is not None  # else nothing to count
    if has_goal and campaign_goals.goal_met(campaign, await r.success_count(campaign)):
        return Stop(TaskStatus.GOAL_MET_ELSEWHERE, campaign_goals.GOAL_MET_REASON)
    if campaign.status == CampaignStatus.COMPLETED:
        return Stop(TaskStatus.CANCELLED, "the campaign is already completed")
    return None


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
