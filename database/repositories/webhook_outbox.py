"""The webhook outbox: events written in the transaction of the change that causes them.

Why here: a call's row, a task's status, a question or a finished campaign and its
webhook must commit together, or not at all, so a crash between the two loses nothing
and sends nothing untrue. Each event becomes one `webhook_events` row (the exact body)
and one pending `webhook_deliveries` row per enabled endpoint of its user that asked for
its type; task_manager/webhook_delivery.py sends them. Nothing is written for a user
with no such endpoint.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from common.webhook_events import (
    CALL_ANSWERED,
    CALL_ENDED,
    CALL_STARTED,
    CAMPAIGN_FINISHED,
    FEEDBACK_REQUESTED,
    CallData,
    CallWebhook,
    CampaignData,
    CampaignWebhook,
    FeedbackData,
    FeedbackWebhook,
    TaskData,
    TaskWebhook,
    WebhookEvent,
    encode,
    new_event_id,
)
from database.models import (
    Call,
    Campaign,
    FeedbackRequest,
    Task,
    WebhookDelivery,
    WebhookEndpoint,
)
from database.models import WebhookEvent as OutboxRow
from database.states import CallStatus, TaskStatus
from database.types import utcnow

_ENDPOINTS = "opendeep.webhook_endpoints"  # per-transaction cache: {user_id: endpoints}
TASK_TYPES = {
    TaskStatus.SUCCEEDED: "task.succeeded",
    TaskStatus.FAILED: "task.failed",
    TaskStatus.NEEDS_USER: "task.needs_user",
}


async def _endpoints(s: AsyncSession, user_id: int) -> list[WebhookEndpoint]:
    cache: dict[int, list[WebhookEndpoint]] = s.info.setdefault(_ENDPOINTS, {})
    if user_id not in cache:
        query = select(WebhookEndpoint).where(
            WebhookEndpoint.user_id == user_id, WebhookEndpoint.enabled.is_(True)
        )
        cache[user_id] = list(await s.scalars(query.order_by(WebhookEndpoint.id)))
    return cache[user_id]


def forget_endpoints(s: AsyncSession) -> None:
    """After changing endpoints in this transaction, so later events see the change."""
    s.info.pop(_ENDPOINTS, None)


async def enqueue(s: AsyncSession, *, user_id: int, event: WebhookEvent, ordering_key: str) -> int:
    """The deliveries created for this event (0 when no endpoint of the user wants it)."""
    wanted = [e for e in await _endpoints(s, user_id) if event.type in (e.events or [])]
    if not wanted:
        return 0
    row = OutboxRow(
        event_id=event.id, user_id=user_id, type=event.type, ordering_key=ordering_key,
        body=encode(event), created_at=event.created_at,
    )  # fmt: skip
    s.add(row)
    await s.flush()
    now = utcnow()
    for endpoint in wanted:
        delivery = WebhookDelivery(
            event_id=row.id, endpoint_id=endpoint.id, user_id=user_id,
            ordering_key=ordering_key, next_attempt_at=now, created_at=now,
        )  # fmt: skip
        s.add(delivery)
    await s.flush()
    return len(wanted)


def call_key(call: Call) -> str:
    """A call's events are ordered with its task's (or alone, without a task)."""
    return f"task:{call.task_id}" if call.task_id is not None else f"call:{call.id}"


def call_event_type(before: str | None, after: str) -> str | None:
    """Which call webhook a status change makes: started, answered, ended, or none."""
    if before == after:
        return None
    if before is None:
        return CALL_STARTED
    if after == CallStatus.ANSWERED:
        return CALL_ANSWERED
    if CallStatus(after).is_final and not CallStatus(before).is_final:
        return CALL_ENDED
    return None


async def call_changed(s: AsyncSession, call: Call, before: str | None) -> None:
    kind = call_event_type(before, str(call.status))
    if kind is None:
        return
    data = CallData(
        call_id=call.id, task_id=call.task_id, campaign_id=await _campaign_of(s, call.task_id),
        direction=str(call.direction), phone_number=call.phone_number, status=str(call.status),
        attempt_number=call.attempt_number, started_at=call.started_at,
        answered_at=call.answered_at, ended_at=call.ended_at,
        duration_seconds=call.duration_seconds, end_reason=call.end_reason,
    )  # fmt: skip
    event = CallWebhook(id=new_event_id(), type=kind, created_at=utcnow(), data=data)
    await enqueue(s, user_id=call.user_id, event=event, ordering_key=call_key(call))


async def _campaign_of(s: AsyncSession, task_id: int | None) -> int | None:
    if task_id is None:
        return None
    return await s.scalar(select(Task.campaign_id).where(Task.id == task_id))


async def task_changed(
    s: AsyncSession, task: Task, before: str | None, reason: str, actor: str
) -> None:
    kind = TASK_TYPES.get(TaskStatus(task.status))
    if kind is None:
        return
    data = TaskData(
        task_id=task.id, campaign_id=task.campaign_id, status=str(task.status),
        previous_status=before, reason=reason, actor=actor, attempt_count=task.attempt_count,
        max_attempts=task.max_attempts, contact_name=task.contact_name,
        phone_number=task.phone_number, result=task.result,
    )  # fmt: skip
    event = TaskWebhook(id=new_event_id(), type=kind, created_at=utcnow(), data=data)
    await enqueue(s, user_id=task.user_id, event=event, ordering_key=f"task:{task.id}")


async def feedback_requested(s: AsyncSession, request: FeedbackRequest) -> None:
    data = FeedbackData(
        request_id=request.id, call_id=request.call_id, task_id=request.task_id,
        question=request.question, expires_at=request.expires_at,
    )  # fmt: skip
    event = FeedbackWebhook(
        id=new_event_id(), type=FEEDBACK_REQUESTED, created_at=utcnow(), data=data
    )
    key = f"task:{request.task_id}" if request.task_id else f"call:{request.call_id}"
    await enqueue(s, user_id=request.user_id, event=event, ordering_key=key)


async def campaign_finished(s: AsyncSession, campaign: Campaign) -> None:
    """Completed (every task final) or cancelled by the person."""
    data = CampaignData(
        campaign_id=campaign.id, name=campaign.name, status=str(campaign.status),
        finished_at=campaign.finished_at, summary=campaign.summary,
    )  # fmt: skip
    event = CampaignWebhook(
        id=new_event_id(), type=CAMPAIGN_FINISHED, created_at=utcnow(), data=data
    )
    await enqueue(s, user_id=campaign.user_id, event=event, ordering_key=f"campaign:{campaign.id}")
