"""What the JSON API accepts and returns. `XPublic` go out, `XCreate` / `XUpdate` come in.

Input is checked at the edge, with the constrained types below on every route (bodies,
forms, path and query parameters): a request past them is a 422 naming the field, and
nothing is stored. Strings may not hold NUL (PostgreSQL refuses it in text) or unpaired
surrogates (not encodable as UTF-8); integers must fit the database's 32-bit columns and
ids are positive; free-form JSON (a plan) is walked for the same. Before, these reached
the database and came back as 500s (issue 13).
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from annotated_types import Interval, Len
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from database.models import TokenScope

INT32 = (-(2**31), 2**31 - 1)
_SURROGATE = re.compile("[\ud800-\udfff]")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def clean_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if _SURROGATE.search(value):
        raise ValueError("must be valid Unicode text (no unpaired surrogates)")
    return value


def clean_json(value: Any, where: str = "") -> Any:
    """Free-form JSON held to the same rules; the message says where (never what)."""
    if isinstance(value, str):
        _clean_at(where, value)
    elif isinstance(value, bool) or value is None:
        pass
    elif isinstance(value, int) and not INT32[0] <= value <= INT32[1]:
        raise ValueError(f"{where or 'value'}: must be between {INT32[0]} and {INT32[1]}")
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where or 'value'}: must be a finite number")
    elif isinstance(value, dict):
        for key, item in value.items():
            step = f"{where}.{_label(key)}" if where else _label(key)
            _clean_at(step, str(key))
            clean_json(item, step)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            clean_json(item, f"{where}.{index}" if where else str(index))
    return value


def _label(key: object) -> str:
    """A key as shown in a message: a plain name as is, anything else not echoed."""
    text = str(key)
    return text if _NAME.fullmatch(text) else "*"


def _clean_at(where: str, value: str) -> None:
    try:
        clean_text(value)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}" if where else str(exc)) from None


CLEAN = AfterValidator(clean_text)
Clean = Annotated[str, CLEAN]  # for forms and queries, with their own max_length
Id = Annotated[int, Interval(ge=1, le=INT32[1])]  # every {..._id} and id query parameter
CallId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[\w.:-]+$")]
PageNumber = Annotated[int, Interval(ge=1, le=10_000)]  # 50 a page (pagination.py)
NextPath = Annotated[str, StringConstraints(max_length=500), CLEAN]
JsonObject = Annotated[dict[str, Any], AfterValidator(clean_json)]


def _text(max_length: int, min_length: int = 0) -> Any:
    return StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length)


Name = Annotated[str, _text(200), CLEAN]
FactLabel = Annotated[str, _text(100, 1), CLEAN]
FactText = Annotated[str, _text(500, 1), CLEAN]
PhoneInput = Annotated[str, _text(40), CLEAN]
Reason = Annotated[str, _text(500), CLEAN]
Answer = Annotated[str, _text(2000, 1), CLEAN]
Objective = Annotated[str, _text(2000, 1), CLEAN]
ChatText = Annotated[str, _text(4000, 1), CLEAN]
TokenName = Annotated[str, _text(100, 1), CLEAN]
TimeZoneName = Annotated[str, StringConstraints(max_length=64), CLEAN]
PhoneCode = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9]{6}$")]
MAX_TOKEN_DAYS = 365


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
    waiting_reason: str | None = None  # why a waiting task is not called now, in words


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
    recording_url: str | None = None  # both sides as a WAV (range requests), when recorded
    recording_seconds: float | None = None
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
    answer: Answer


class FeedbackAnswered(BaseModel):
    id: int
    status: str
    delivered: bool  # did a live call take the answer (False: no call was listening)


class DndCreate(BaseModel):
    phone_number: PhoneInput
    reason: Reason = ""


class DndPublic(Public):
    id: int
    phone_number: str
    reason: str
    created_at: datetime


class ProfilePublic(BaseModel):
    email: str
    display_name: str
    phone_number: str | None
    phone_verified: bool  # transfers and texts to the number wait until it is
    time_zone: str
    facts: dict[str, str]
    never_share: list[str]


class ProfileUpdate(BaseModel):
    """Fields left out stay as they are; phone_number "" clears it."""

    model_config = ConfigDict(extra="forbid")

    display_name: Name | None = None
    phone_number: PhoneInput | None = None
    time_zone: TimeZoneName | None = None
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
    """Least privilege by default: read only, for 30 days."""

    name: TokenName
    scopes: Annotated[list[TokenScope], Field(min_length=1, max_length=3)] = [TokenScope.READ]
    expires_in_days: Annotated[int, Field(ge=1, le=MAX_TOKEN_DAYS)] = 30


class TokenPublic(Public):
    id: int
    name: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None

    @field_validator("scopes", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return value.split() if isinstance(value, str) else value


class TokenCreated(TokenPublic):
    token: str  # shown once; only its hash is kept


class WsTicket(BaseModel):
    ticket: str  # for /ws/events?ticket=...: once, within expires_in seconds
    expires_in: int


class ChatIn(BaseModel):
    conversation_id: Id | None = None
    message: ChatText


class PlanConfirmIn(BaseModel):
    """The plan as the person edited it in the table; the server validates it again."""

    plan: JsonObject


class CampaignCreated(BaseModel):
    campaign_id: int
    task_ids: list[int]


class TrialCallIn(BaseModel):
    phone_number: PhoneInput
    objective: Objective


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
    task_id: int | None = None  # a needs_user task: settle it (POST /api/tasks/{id}/settle)
    request_id: int | None = None  # a question: answer it (POST /api/feedback/{id}/answer)


class NotificationsPublic(BaseModel):
    unread: int
    items: list[NotificationPublic]


class PhoneCodeSent(BaseModel):
    channel: str  # sms | call
    valid_minutes: int
    campaign_id: int | None = None  # the call that reads the code, when by call


class PhoneCodeIn(BaseModel):
    code: PhoneCode


class SettleIn(BaseModel):
    """The person's decision on a task that needs them, and why (kept as its reason)."""

    decision: Literal["done", "retry", "fail"]
    note: Reason = ""


class CallControlled(BaseModel):
    call_id: str
    action: str  # hangup | take_over
    delivered: bool  # the call's handler got the command (it acts within a moment)


class WorkChanged(BaseModel):
    """A campaign or task after the person acted on it."""

    status: str
    campaign_id: int | None = None
    task_id: int | None = None
    tasks_cancelled: int | None = None


WebhookUrl = Annotated[str, _text(2048, 1), CLEAN]
EventTypes = Annotated[list[Annotated[str, StringConstraints(max_length=40)]], Len(1, 20)]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: WebhookUrl
    events: EventTypes
    description: Name = ""


class WebhookUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: WebhookUrl | None = None
    events: EventTypes | None = None
    description: Name | None = None
    enabled: bool | None = None


class WebhookPublic(Public):
    id: int
    url: str
    description: str
    events: list[str]
    enabled: bool
    created_at: datetime


class WebhookCreated(WebhookPublic):
    secret: str  # shown this once; it signs every delivery (README, Webhooks)


class WebhookAttemptPublic(Public):
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class WebhookDeliveryPublic(BaseModel):
    id: int
    event_id: str
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime | None  # when pending
    created_at: datetime
    finished_at: datetime | None
    log: list[WebhookAttemptPublic]
