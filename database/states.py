"""State names shared by every package: one vocabulary for tasks, calls and requests.

StrEnums so a state compares equal to its stored string and prints as itself in logs and
JSON; the database stores the value, never the member name.
"""

from __future__ import annotations

from enum import StrEnum


class TaskStatus(StrEnum):
    PENDING = "pending"
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    SUCCEEDED = "succeeded"
    RETRY_SCHEDULED = "retry_scheduled"
    NEEDS_USER = "needs_user"
    FAILED = "failed"
    CANCELLED = "cancelled"
    CANCELLED_DND = "cancelled_dnd"
    GOAL_MET_ELSEWHERE = "goal_met_elsewhere"

    @property
    def is_final(self) -> bool:
        """Final tasks are never claimed again; needs_user waits for the person."""
        return self in _FINAL_TASK_STATES


_FINAL_TASK_STATES = frozenset(
    {
        TaskStatus.SUCCEEDED,
        TaskStatus.FAILED,
        TaskStatus.CANCELLED,
        TaskStatus.CANCELLED_DND,
        TaskStatus.GOAL_MET_ELSEWHERE,
    }
)


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class CallStatus(StrEnum):
    DIALING = "dialing"
    RINGING = "ringing"
    ANSWERED = "answered"
    COMPLETED = "completed"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    CONGESTION = "congestion"
    FAILED = "failed"
    AI_FAILURE = "ai_failure"
    INTERRUPTED = "interrupted"

    @property
    def is_final(self) -> bool:
        return self not in {CallStatus.DIALING, CallStatus.RINGING, CallStatus.ANSWERED}


class CallDirection(StrEnum):
    """Who dialled: we did (an attempt of a task), or they did (a call-back to us)."""

    OUTBOUND = "outbound"
    INBOUND = "inbound"


class Speaker(StrEnum):
    AGENT = "agent"
    CALLEE = "callee"


class FeedbackStatus(StrEnum):
    OPEN = "open"
    ANSWERED = "answered"
    EXPIRED = "expired"


class MessageChannel(StrEnum):
    SMS = "sms"
    EMAIL = "email"


class MessageStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class TaskActor(StrEnum):
    """Who moved a task (task_events.actor): the part of the platform, or the person."""

    ORCHESTRATOR = "orchestrator"  # created it from a plan
    SCHEDULER = "scheduler"  # claimed, launched, deferred or stood it down
    ANALYZER = "analyzer"  # decided it after a call
    LIFECYCLE = "lifecycle"  # recovered it after a crash
    INBOUND = "inbound"  # a call-back decided it
    PERSON = "person"  # settled it, or cancelled its campaign
    SYSTEM = "system"  # replaced it (a newer verification code)


class WebhookDeliveryStatus(StrEnum):
    PENDING = "pending"  # due, or waiting for its next try
    DELIVERED = "delivered"  # a 2xx came back
    FAILED = "failed"  # given up: 24 h of tries, or the endpoint was refused
