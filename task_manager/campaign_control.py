"""The person's hand on their work: pause, resume or cancel a campaign; settle a task.

Why in task_manager: campaign and task rows are written by the task engine only
(docs/architecture.md, "States, and who writes which rows"). The web app reaches this
service through its `WorkControl` protocol (web_interface/work_control.py), which the
launcher fills with this class, and it answers in JSON-ready dicts like the planning
assistant does.

Every change is conditional on the state it was decided from (a campaign's status in the
UPDATE's WHERE, a task's version), so a scheduler, analyzer or lifecycle sweep acting at
the same moment either goes first or loses, never overwrites. Calls already running are
never cut by these: they finish, and the analyzer then sees the campaign as it is.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from database.errors import NotFound, VersionConflict
from database.models import Campaign, Task
from database.repositories import campaigns, task_events, tasks, webhook_outbox
from database.repositories.base import affected
from database.states import CampaignStatus, TaskActor, TaskStatus
from database.types import utcnow

log = logging.getLogger(__name__)
Result = dict[str, Any]

# Waiting to be called, or waiting on the person: what a cancel stands down. A task on a
# live call (scheduled in a claim, in_progress) is left to its call.
OPEN = (TaskStatus.PENDING, TaskStatus.RETRY_SCHEDULED, TaskStatus.NEEDS_USER)
CANCELLED_REASON = "you cancelled the campaign"
SETTLED = {
    "done": (TaskStatus.SUCCEEDED, "you marked it done"),
    "retry": (TaskStatus.RETRY_SCHEDULED, "you asked for another call"),
    "fail": (TaskStatus.FAILED, "you marked it failed"),
}
REASON_MAX = 2000


class CampaignControlService:
    """What web_interface's WorkControl protocol asks for."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        """Work made due here (a resume, a retry) is claimed at the scheduler's next poll
        (SCHEDULER_POLL)."""
        self.sessions = sessions

    async def pause(self, user_id: int, campaign_id: int) -> Result:
        """No new calls until resumed; calls in progress finish."""
        return await self._move(user_id, campaign_id, CampaignStatus.ACTIVE, CampaignStatus.PAUSED)

    async def resume(self, user_id: int, campaign_id: int) -> Result:
        """Its waiting tasks are claimable again (those already due are called at once)."""
        return await self._move(user_id, campaign_id, CampaignStatus.PAUSED, CampaignStatus.ACTIVE)

    async def cancel(self, user_id: int, campaign_id: int) -> Result:
        """Open tasks become cancelled; calls in progress finish, and their tasks are
        stood down by the scheduler if the analyzer asks for another attempt."""
        async with self.sessions() as s, s.begin():
            campaign = await _owned(s, user_id, campaign_id)
            if campaign.status in (CampaignStatus.COMPLETED, CampaignStatus.CANCELLED):
                return _refused(f"the campaign is already {campaign.status}")
            touched = await affected(
                s,
                update(Campaign)
                .where(Campaign.id == campaign_id, Campaign.status == campaign.status)
                .values(status=CampaignStatus.CANCELLED, finished_at=utcnow())
                .execution_options(synchronize_session=False),
            )
            if touched != 1:
                return _refused("the campaign changed meanwhile; reload and try again")
            stood_down = await _stand_down(s, campaign)
            await s.refresh(campaign)
            await webhook_outbox.campaign_finished(s, campaign)
        log.info("campaign cancelled", extra={"campaign_id": campaign_id, "tasks": stood_down})
        return {"campaign_id": campaign_id, "status": "cancelled", "tasks_cancelled": stood_down}

    async def settle(self, user_id: int, task_id: int, decision: str, note: str) -> Result:
        """A task that waits on the person: done, retry (due now, with one more attempt
        if all were used) or fail; the note is stored as the decision's reason."""
        if decision not in SETTLED:
            return _refused("decide done, retry or fail")
        status, default_reason = SETTLED[decision]
        try:
            async with self.sessions() as s, s.begin():
                task = await tasks.get(s, user_id=user_id, task_id=task_id)
                if task is None:
                    raise NotFound("task not found")
                if task.status != TaskStatus.NEEDS_USER:
                    return _refused(f"this task does not wait on you (it is {task.status})")
                changes: dict[str, Any] = {
                    "last_decision": f"person_{decision}",
                    "last_decision_reason": (note.strip() or default_reason)[:REASON_MAX],
                }
                if status is TaskStatus.RETRY_SCHEDULED:
                    refused = await _reopen(s, task)
                    if refused is not None:
                        return refused
                    changes["next_action_time"] = utcnow()
                    changes["max_attempts"] = max(task.max_attempts, task.attempt_count + 1)
                await tasks.update_status(
                    s, user_id=user_id, task_id=task_id, expected_version=task.version,
                    status=status, actor=TaskActor.PERSON, **changes,
                )  # fmt: skip
        except VersionConflict:
            return _refused("the task changed meanwhile; reload and try again")
        log.info("task settled by the person", extra={"task_id": task_id, "decision": decision})
        return {"task_id": task_id, "status": str(status)}

    async def _move(
        self, user_id: int, campaign_id: int, before: CampaignStatus, after: CampaignStatus
    ) -> Result:
        async with self.sessions() as s, s.begin():
            campaign = await _owned(s, user_id, campaign_id)
            if campaign.status == after:
                return {"campaign_id": campaign_id, "status": str(after)}  # already so
            if campaign.status != before:
                return _refused(f"the campaign is {campaign.status}, not {before}")
            touched = await affected(
                s,
                update(Campaign)
                .where(Campaign.id == campaign_id, Campaign.status == before)
                .values(status=after)
                .execution_options(synchronize_session=False),
            )
            if touched != 1:
                return _refused("the campaign changed meanwhile; reload and try again")
        log.info("campaign status set", extra={"campaign_id": campaign_id, "status": str(after)})
        return {"campaign_id": campaign_id, "status": str(after)}


async def _owned(s: AsyncSession, user_id: int, campaign_id: int) -> Campaign:
    campaign = await campaigns.get(s, user_id=user_id, campaign_id=campaign_id)
    if campaign is None:
        raise NotFound("campaign not found")
    return campaign


async def _stand_down(s: AsyncSession, campaign: Campaign) -> int:
    """One UPDATE that bumps versions: a scheduler or analyzer holding an older copy of
    any of these tasks gets a conflict, not a launch (as campaign_goals.stand_down_rest)."""
    return await task_events.move_where(
        s,
        [Task.campaign_id == campaign.id, Task.user_id == campaign.user_id, Task.status.in_(OPEN)],
        TaskStatus.CANCELLED,
        actor=TaskActor.PERSON,
        reason=CANCELLED_REASON,
        last_decision=str(TaskStatus.CANCELLED),
        last_decision_reason=CANCELLED_REASON,
        claimed_by=None,
        lease_expires_at=None,
    )


async def _reopen(s: AsyncSession, task: Task) -> Result | None:
    """Another call needs a campaign that still calls: a completed one is active again (the
    lifecycle manager completes it anew, with a new summary); a cancelled one refuses."""
    if task.campaign_id is None:
        return None
    campaign = await _owned(s, task.user_id, task.campaign_id)
    if campaign.status == CampaignStatus.CANCELLED:
        return _refused("the campaign was cancelled, so nothing more will be called")
    if campaign.status == CampaignStatus.COMPLETED:
        await campaigns.update(
            s, user_id=task.user_id, campaign_id=campaign.id,
            status=CampaignStatus.ACTIVE, finished_at=None,
        )  # fmt: skip
    return None


def _refused(why: str) -> Result:
    return {"refused": why}
