""" "Stop after N successes": when a campaign's goal is met, its remaining tasks stand down.

Shared by the analyzer (which records the success) and the scheduler (which must not
launch a task whose campaign is already done). Calls already in progress are left to
finish; their own analysis then sees the goal met and stands them down too.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from database.models import Campaign, Task
from database.repositories import task_events
from database.states import TaskActor, TaskStatus

# Everything not yet final and not on a live call: queued, claimed-not-launched, waiting.
STAND_DOWN = (
    TaskStatus.PENDING,
    TaskStatus.SCHEDULED,
    TaskStatus.RETRY_SCHEDULED,
    TaskStatus.NEEDS_USER,
)
GOAL_MET_REASON = "the campaign's goal was met by another task"


async def successes(s: AsyncSession, campaign_id: int) -> int:
    query = select(func.count(Task.id)).where(
        Task.campaign_id == campaign_id, Task.status == TaskStatus.SUCCEEDED
    )
    return int(await s.scalar(query) or 0)


def goal_met(campaign: Campaign, success_count: int) -> bool:
    target = campaign.stop_after_successes
    return target is not None and success_count >= target


async def stand_down_rest(
    s: AsyncSession, campaign: Campaign, actor: TaskActor = TaskActor.ANALYZER
) -> int:
    """Remaining tasks → goal_met_elsewhere. One UPDATE that bumps versions, so a scheduler
    or analyzer holding an older copy of any of them gets a VersionConflict, not a launch."""
    return await task_events.move_where(
        s,
        [
            Task.campaign_id == campaign.id,
            Task.user_id == campaign.user_id,
            Task.status.in_(STAND_DOWN),
        ],
        TaskStatus.GOAL_MET_ELSEWHERE,
        actor=actor,
        reason=GOAL_MET_REASON,
        last_decision="goal_met_elsewhere",
        last_decision_reason=GOAL_MET_REASON,
        claimed_by=None,
        lease_expires_at=None,
    )
