"""Why a task that waits is not being called: told from the scheduler's own rules.

The web app asks through its `TaskOutlook` protocol (web_interface/task_outlook.py); the
launcher passes this service in (docs/architecture.md, the composition root). Nothing is
written: the rules of call_rules.py are asked about each waiting task as if it were
claimed now, without counting a call towards the person's daily limit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from config.settings import CallingSettings
from database.models import Task
from database.states import CampaignStatus, TaskStatus
from database.types import utcnow
from task_manager.call_rules import CallRules, RoundCache, Stop, Wait

Clock = Callable[[], datetime]
Unready = Callable[[], Awaitable[str | None]]
WAITING = (TaskStatus.PENDING, TaskStatus.RETRY_SCHEDULED)


class TaskOutlookService:
    def __init__(
        self,
        calling: CallingSettings,
        *,
        calls_missing: Sequence[str] = (),
        unready: Unready | None = None,
        clock: Clock = utcnow,
    ) -> None:
        """`calls_missing`: the settings whose absence turned calls off at start-up;
        `unready()`: why calls cannot be placed right now (the scheduler's own check)."""
        self.rules = CallRules.from_settings(calling)
        self.missing = tuple(calls_missing)
        self.unready = unready
        self.clock = clock

    def calls_off(self) -> tuple[str, ...]:
        return self.missing

    async def reasons(
        self, s: AsyncSession, user_id: int, task_ids: Sequence[int]
    ) -> dict[int, str]:
        """For each of the person's waiting tasks among `task_ids` that cannot be called
        now: every reason, in the order the scheduler would meet them."""
        rows = await _waiting(s, user_id, task_ids)
        if not rows:
            return {}
        shared = await self._shared_reasons()
        round_ = RoundCache(s, rows)
        now = self.clock()
        out: dict[int, str] = {}
        for task in rows:
            found = [*shared, *await self._task_reasons(round_, task, now)]
            if found:
                out[task.id] = "; ".join(found)
        return out

    async def _shared_reasons(self) -> list[str]:
        if self.missing:
            return [f"calls are off ({' and '.join(self.missing)} not set)"]
        why = await self.unready() if self.unready is not None else None
        return [f"calls cannot be placed now: {why}"] if why else []

    async def _task_reasons(self, r: RoundCache, task: Task, now: datetime) -> list[str]:
        campaign = await r.campaign(task)
        paused = campaign is not None and campaign.status == CampaignStatus.PAUSED
        out = ["the campaign is paused"] if paused else []
        due = max(now, task.next_action_time or now)
        verdict = await self.rules.verdict(r, task, due, count=False)
        if isinstance(verdict, Stop):
            out.append(f"will not be called: {verdict.reason}")
        elif isinstance(verdict, Wait):
            out.append(verdict.why or f"outside calling hours until {_local(verdict, now)}")
        return out


def _local(wait: Wait, now: datetime) -> str:
    """'Mon 09:00 callee-local', with the date when it is more than a week off."""
    at = wait.until.astimezone(wait.zone)
    shown = at.strftime("%a %H:%M")
    if wait.until - now > timedelta(days=6):
        shown = at.strftime("%a %d %b %H:%M")
    return f"{shown} callee-local"


async def _waiting(s: AsyncSession, user_id: int, task_ids: Sequence[int]) -> list[Task]:
    if not task_ids:
        return []
    rows = await s.scalars(
        select(Task).where(
            Task.user_id == user_id, Task.id.in_(list(task_ids)), Task.status.in_(WAITING)
        )
    )
    return list(rows)
