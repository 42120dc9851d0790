"""The events sent to a person's webhook endpoints: one typed, versioned envelope each.

Why typed here: the body is a contract with code we do not own (a CRM, a script), so its
schema must not drift with our tables. Every event is `{"id", "type", "created_at",
"data"}`; `id` is unique per event and stays the same on every retry and redelivery (the
receiver de-duplicates on it); `data` is one of four shapes. The README documents them.
Pure: no I/O.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

CALL_STARTED = "call.started"
CALL_ANSWERED = "call.answered"
CALL_ENDED = "call.ended"
TASK_SUCCEEDED = "task.succeeded"
TASK_FAILED = "task.failed"
TASK_NEEDS_USER = "task.needs_user"
FEEDBACK_REQUESTED = "feedback.requested"
CAMPAIGN_FINISHED = "campaign.finished"
EVENT_TYPES = (
    CALL_STARTED, CALL_ANSWERED, CALL_ENDED, TASK_SUCCEEDED, TASK_FAILED, TASK_NEEDS_USER,
    FEEDBACK_REQUESTED, CAMPAIGN_FINISHED,
)  # fmt: skip


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CallData(_Frozen):
    call_id: str
    task_id: int | None
    campaign_id: int | None
    direction: str  # outbound | inbound
    phone_number: str  # E.164
    status: str  # dialing, answered, completed, busy, no_answer, ...
    attempt_number: int
    started_at: datetime
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    duration_seconds: float | None = None
    end_reason: str | None = None


class TaskData(_Frozen):
    task_id: int
    campaign_id: int | None
    status: str
    previous_status: str | None
    reason: str
    actor: str
    attempt_count: int
    max_attempts: int
    contact_name: str
    phone_number: str
    result: dict[str, Any] | None = None


class FeedbackData(_Frozen):
    request_id: int
    call_id: str | None
    task_id: int | None
    question: str
    expires_at: datetime | None


class CampaignData(_Frozen):
    campaign_id: int
    name: str
    status: str  # completed | cancelled
    finished_at: datetime | None
    summary: str | None


class _Envelope(_Frozen):
    id: str
    created_at: datetime


class CallWebhook(_Envelope):
    type: Literal["call.started", "call.answered", "call.ended"]
    data: CallData


class TaskWebhook(_Envelope):
    type: Literal["task.succeeded", "task.failed", "task.needs_user"]
    data: TaskData


class FeedbackWebhook(_Envelope):
    type: Literal["feedback.requested"]
    data: FeedbackData


class CampaignWebhook(_Envelope):
    type: Literal["campaign.finished"]
    data: CampaignData


WebhookEvent = Annotated[
    CallWebhook | TaskWebhook | FeedbackWebhook | CampaignWebhook, Field(discriminator="type")
]
_ADAPTER: TypeAdapter[WebhookEvent] = TypeAdapter(WebhookEvent)


def new_event_id() -> str:
    """Unique per event, kept across retries: what receivers de-duplicate on."""
    return f"evt_{uuid.uuid4().hex}"


def encode(event: WebhookEvent) -> str:
    """The exact body every attempt of this event posts and signs."""
    return event.model_dump_json()


def decode(body: bytes | str) -> WebhookEvent:
    """For receivers written in Python (and our tests): the typed event of a body."""
    return _ADAPTER.validate_json(body)
