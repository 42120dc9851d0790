"""All tables. Import models from here: `from database.models import Task`."""

from database.models.access_tokens import AccessToken, TokenKind, TokenScope
from database.models.base import Base
from database.models.calls import Call, CallEvent, CallTurn
from database.models.campaigns import Campaign, Task
from database.models.conversations import Conversation
from database.models.idempotency import IdempotencyKey
from database.models.phone_codes import PhoneCode
from database.models.requests import DndEntry, FeedbackRequest, Message
from database.models.task_events import TaskEvent
from database.models.users import User
from database.models.webhooks import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)

__all__ = [
    "AccessToken",
    "Base",
    "Call",
    "CallEvent",
    "CallTurn",
    "Campaign",
    "Conversation",
    "DndEntry",
    "FeedbackRequest",
    "IdempotencyKey",
    "Message",
    "PhoneCode",
    "Task",
    "TaskEvent",
    "TokenKind",
    "TokenScope",
    "User",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
]
