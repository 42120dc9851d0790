"""The live events a person's open pages receive, one typed union for every publisher.

Why typed: these cross the bus (Redis between processes) and end in the browser's
`static/app.js`. Published from five places (a call's row writer, its turn writer, its
tools, the notifier, the relay of what committed transactions queued: task status
changes, closed questions), and one sent by /ws/events itself (`QuestionsPending`), they
used to be dicts whose shape
only the JavaScript knew; here each kind is a model with a `type`, validated when
published and when read, and a test holds the union and app.js to the same types and
fields (tests/web/test_live_events.py).

Events carry ids and short texts for the person who owns them; the channel is theirs alone
(`channels.user_events`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CallStatusChanged(_Event):
    """A call moved to a new state (a `CallStatus` value: ringing, answered, completed...)."""

    type: Literal["call_status"] = "call_status"
    call_id: str
    status: str


class CallEventAdded(_Event):
    """Something happened on a call (answered, dtmf_sent, transfer...): the timeline grows.
    The stored record is the call_events row (its id is `event_id`): the call page orders
    its timeline by (at, event_id) and skips a row it already shows."""

    type: Literal["call_event"] = "call_event"
    call_id: str
    kind: str
    event_id: int
    at: datetime


class TurnAdded(_Event):
    """One utterance of the agent or the callee, as stored (seq orders a call's turns)."""

    type: Literal["turn"] = "turn"
    call_id: str
    seq: int
    speaker: Literal["agent", "callee"]
    text: str


class CallHoldChanged(_Event):
    """The call went on hold, or came back: the call page shows "on hold m:ss" meanwhile."""

    type: Literal["call_hold"] = "call_hold"
    call_id: str
    on_hold: bool
    since: datetime  # when this hold began (the page counts from it)


class FeedbackRequested(_Event):
    """The agent asks the person something while the callee waits."""

    type: Literal["feedback_request"] = "feedback_request"
    request_id: int
    call_id: str | None  # None only for a question stored without a call
    question: str
    expires_at: datetime | None  # None: it waits until answered


class QuestionsPending(_Event):
    """Every question still waiting for the person, from the store, sent first on each
    socket that opens (or re-opens). A question published before the socket listened is
    shown all the same, and a page drops what was answered or expired while it was away."""

    type: Literal["questions_pending"] = "questions_pending"
    questions: list[FeedbackRequested]


class FeedbackClosed(_Event):
    """A question stopped waiting (answered from some page, or expired): every open page
    takes it away."""

    type: Literal["feedback_closed"] = "feedback_closed"
    request_id: int
    status: Literal["answered", "expired"]


class TaskStatusChanged(_Event):
    """A task moved (pending → scheduled → in_progress → ...): its timeline grows. The
    stored record is the task_events row written with the change (its id is `event_id`)."""

    type: Literal["task_status"] = "task_status"
    event_id: int
    task_id: int
    campaign_id: int | None
    from_status: str | None  # None when the task was created
    to_status: str
    reason: str
    actor: str
    at: datetime


class NotificationSent(_Event):
    """The person was told something by email/SMS (a summary, a task that needs them)."""

    type: Literal["notification"] = "notification"
    kind: str
    subject: str


LiveEvent = Annotated[
    CallStatusChanged
    | CallEventAdded
    | TurnAdded
    | CallHoldChanged
    | FeedbackRequested
    | QuestionsPending
    | FeedbackClosed
    | TaskStatusChanged
    | NotificationSent,
    Field(discriminator="type"),
]
LIVE_EVENT_TYPES: tuple[type[_Event], ...] = (
    CallStatusChanged,
    CallEventAdded,
    TurnAdded,
    CallHoldChanged,
    FeedbackRequested,
    QuestionsPending,
    FeedbackClosed,
    TaskStatusChanged,
    NotificationSent,
)
_ADAPTER: TypeAdapter[LiveEvent] = TypeAdapter(LiveEvent)


def encode_event(event: LiveEvent) -> bytes:
    return event.model_dump_json().encode()


def decode_event(data: bytes | str) -> LiveEvent:
    """A live event, or ValueError naming field locations only (texts may be private)."""
    try:
        return _ADAPTER.validate_json(data)
    except ValidationError as exc:
        where = ", ".join(".".join(str(p) for p in e["loc"]) or "<root>" for e in exc.errors())
        raise ValueError(f"invalid live event: {where}") from None
