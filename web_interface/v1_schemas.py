"""What /api/v1 returns: the /api read models plus what a script importing work needs.

Lists come in an envelope, `{"items": [...], "page": n, "next_page": n+1 or null}`, 50
a page as everywhere (pagination.py; the `Link` header is set too). A call's
`recording_url` is null when the call was not recorded; a task comes with its status
changes (task_events), oldest first.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Generic, TypeVar

from pydantic import BaseModel, Field

from web_interface.schemas import CallDetail, CallPublic, CampaignPublic, Public, TaskPublic

T = TypeVar("T")


class Paged(BaseModel, Generic[T]):
    items: list[T]
    page: int
    next_page: int | None  # null on the last page


class Window(BaseModel):
    """Callee-local calling hours; null fields keep the operator's."""

    start: time | None
    end: time | None
    days: str | None


class CampaignV1(CampaignPublic):
    language: str
    window: Window
    voicemail_policy: str  # hang_up_and_retry | leave_message | notify_person
    voicemail_message_counts: bool
    max_hold_minutes: int
    asterisk_amd: bool


class TaskV1(TaskPublic):
    context: str
    success_criteria: str
    priority: int


class TaskEventV1(Public):
    """One status change: from (null when the task was created) → to, why, and who."""

    from_status: str | None
    to_status: str
    reason: str
    actor: str  # orchestrator | scheduler | analyzer | lifecycle | inbound | person | system
    at: datetime = Field(validation_alias="created_at")


class TaskDetailV1(TaskV1):
    calls: list[CallPublic]
    events: list[TaskEventV1]


class CallV1(CallPublic):
    recording_url: str | None = None  # null: not recorded


class CallDetailV1(CallDetail):  # recording_url: null when not recorded
    end_reason: str | None  # far_end_hangup, end_call, person_hangup, ...
    ended_by: str | None  # far_end | agent | platform
    answered_by: str | None  # person | machine


class CampaignCreatedV1(BaseModel):
    campaign_id: int
    task_ids: list[int]  # in the order of the plan's tasks


class ImportedRow(BaseModel):
    row: int  # the spreadsheet's row number (the header is row 1)
    task_id: int


class RowProblemV1(BaseModel):
    row: int
    column: str | None  # null: the whole row
    message: str


class CsvImported(CampaignCreatedV1):
    rows_received: int
    rows_stored: int
    tasks: list[ImportedRow]
    problems: list[RowProblemV1]  # rows left out (only with partial=true)
