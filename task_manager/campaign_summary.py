"""The report a person gets when a campaign is over: per task, what happened and what
was obtained, and what still needs them. Pure: rows in, text out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from database.models import Campaign, Task
from database.states import TaskStatus

LABELS = {
    TaskStatus.SUCCEEDED: "succeeded",
    TaskStatus.FAILED: "failed",
    TaskStatus.NEEDS_USER: "needs you",
    TaskStatus.CANCELLED: "cancelled",
    TaskStatus.CANCELLED_DND: "not called (do-not-call list)",
    TaskStatus.GOAL_MET_ELSEWHERE: "not needed (goal met)",
}
# Still moving: a campaign with any of these is not finished.
OPEN_STATES = (
    TaskStatus.PENDING,
    TaskStatus.SCHEDULED,
    TaskStatus.IN_PROGRESS,
    TaskStatus.RETRY_SCHEDULED,
)


@dataclass(frozen=True, slots=True)
class CampaignSummary:
    subject: str
    text: str
    succeeded: int
    needs_user: int
    total: int

    @property
    def could_not_finish(self) -> bool:
        """Nothing succeeded and nothing waits on the person: every number failed or DND."""
        return self.total > 0 and self.succeeded == 0 and self.needs_user == 0


def build_summary(campaign: Campaign, tasks: Sequence[Task]) -> CampaignSummary:
    succeeded = sum(t.status == TaskStatus.SUCCEEDED for t in tasks)
    waiting = [t for t in tasks if t.status == TaskStatus.NEEDS_USER]
    lines = [f"Campaign: {campaign.name}"]
    if campaign.goal:
        lines.append(f"Goal: {campaign.goal}")
    lines += [f"{succeeded} of {len(tasks)} tasks succeeded.", ""]
    lines += [_task_block(t) for t in tasks]
    if waiting:
        lines += ["", "Needs your decision:"]
        lines += [f"- {_who(t)}: {t.last_decision_reason or t.objective}" for t in waiting]
    summary = CampaignSummary("", "", succeeded, len(waiting), len(tasks))
    if summary.could_not_finish:
        verb = "could not be completed"
    elif waiting:
        verb = "finished; some tasks need you"
    else:
        verb = "finished"
    return CampaignSummary(
        f'Campaign "{campaign.name}" {verb}', "\n".join(lines), succeeded, len(waiting), len(tasks)
    )


def _who(task: Task) -> str:
    return task.contact_name or task.phone_number


def _task_block(task: Task) -> str:
    label = LABELS.get(TaskStatus(task.status), str(task.status))
    out = [f"* {_who(task)} ({task.phone_number}): {label} after {task.attempt_count} call(s)"]
    if task.last_decision_reason:
        out.append(f"  why: {task.last_decision_reason}")
    for key, value in (task.result or {}).items():
        out.append(f"  {key}: {value}")
    return "\n".join(out)
