"""What the JSON API accepts and returns. `XPublic` go out, `XCreate` / `XUpdate` come in.

Limits on every incoming string: a request past them is a 422 naming the field, and
nothing is stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Name = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
FactLabel = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
FactText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
PhoneInput = Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)]


class Public(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Progress(BaseModel):
    total: int
    done: int
    by_status: dict[str, int]


class CampaignPublic(Public):
    id: int
    name: str
    goal: str
    status: str
    stop_after_successes: int | None
    summary: str | None
    created_at: datetime
    finished_at: datetime | None
    progress: Progress


class TaskPublic(Public):
    id: int
    campaign_id: int | None
    contact_name: str
    phone_number: str
    objective: str
    status: str
    attempt_count: int
    max_attempts: int
    next_action_time: datetime | None
    last_decision: str | None
    last_decision_reason: str | None
    result: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


class CallPublic(Public):
    id: str
    task_id: int | None
    attempt_number: int
    phone_number: str
    status: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    duration_seconds: float | None
    outcome: str | None
    hangup_cause_text: str | None


class CallEventPublic(Public):
    id: int
    kind: str
    data: dict[str, Any]
    at: datetime


class TurnPublic(Public):
    seq: int
    speaker: str
    text: str
    started_at: datetime
    ended_at: datetime | None


class CallDetail(CallPublic):
    direction: str  # outbound (we called) or inbound (they called us back)
    amd_status: str | None
    summary: str | None
    facts: dict[str, Any]
    latency_ms: list[Any]
    events: list[CallEventPublic]
    turns: list[TurnPublic]


class TaskDetail(TaskPublic):
    calls: list[CallPublic]


class FeedbackPublic(Public):
    id: int
    call_id: str | None
    task_id: int | None
    question: str
    context: str
    status: str
    created_at: datetime
    expires_at: datetime | None


class FeedbackAnswerIn(BaseModel):
    answer: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class FeedbackAnswered(BaseModel):
    id: int
    status: str
    delivered: bool  # did a live call take the answer (False: no call was listening)


class DndCreate(BaseModel):
    phone_number: PhoneInput
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""


class DndPublic(Public):
    id: int
    phone_number: str
    reason: str
    created_at: datetime


class ProfilePublic(BaseModel):
    email: str
    display_name: str
    phone_number: str | None
    time_zone: str
    facts: dict[str, str]
    never_share: list[str]


class ProfileUpdate(BaseModel):
    """Fields left out stay as they are; phone_number "" clears it."""

    model_config = ConfigDict(extra="forbid")

    display_name: Name | None = None
    phone_number: PhoneInput | None = None
    time_zone: Annotated[str, StringConstraints(max_length=64)] | None = None
    facts: Annotated[dict[FactLabel, FactText], Field(max_length=50)] | None = None
    never_share: Annotated[list[FactText], Field(max_length=50)] | None = None

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("is not a known time zone (use a name like Europe/Paris)") from None
        return value


class TokenCreate(BaseModel):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class TokenPublic(Public):
    id: int
    name: str
    created_at: datetime
    expires_at: datetime | None


class TokenCreated(TokenPublic):
    token: str  # shown once; only its hash is kept


class ChatIn(BaseModel):
    conversation_id: int | None = None
    message: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class PlanConfirmIn(BaseModel):
    """The plan as the person edited it in the table; the server validates it again."""

    plan: dict[str, Any]


class CampaignCreated(BaseModel):
    campaign_id: int
    task_ids: list[int]


class TrialCallIn(BaseModel):
    phone_number: PhoneInput
    objective: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)
    ]


class ChatLine(BaseModel):
    role: str  # user | assistant
    text: str


class ConversationPublic(Public):
    id: int
    title: str
    campaign_id: int | None
    created_at: datetime
    updated_at: datetime


class ConversationDetail(ConversationPublic):
    lines: list[ChatLine]
    plan: dict[str, Any] | None


class NotificationPublic(BaseModel):
    kind: str  # needs_user | question | message
    title: str
    body: str
    link: str | None
    at: datetime
    new: bool


class NotificationsPublic(BaseModel):
    unread: int
    items: list[NotificationPublic]
