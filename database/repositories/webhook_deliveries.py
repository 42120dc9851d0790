"""The delivery worker's side of the outbox: claim due deliveries, record each attempt.

Several processes may run the worker. A claim takes due, pending deliveries whose lease
is free, and only the earliest pending one per (endpoint, ordering key): a later event
for the same task waits until the earlier one is delivered or given up. PostgreSQL
claims with FOR UPDATE SKIP LOCKED; SQLite's BEGIN IMMEDIATE serialises claims. The
lease (leased_by, lease_expires_at) outlives one POST; if its process dies, the lease
lapses and another worker tries again (at least once, never lost).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from database.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from database.states import WebhookDeliveryStatus

PENDING = WebhookDeliveryStatus.PENDING


@dataclass(frozen=True, slots=True)
class Job:
    """One claimed delivery with what its POST needs."""

    delivery_id: int
    endpoint_id: int
    url: str
    secret: str
    event_id: str
    event_type: str
    body: str
    attempts: int  # made before this one
    created_at: datetime  # of the delivery: retries stop GIVE_UP_AFTER after it


def _first_in_line() -> ColumnElement[bool]:
    earlier = aliased(WebhookDelivery)
    return ~exists().where(
        earlier.endpoint_id == WebhookDelivery.endpoint_id,
        earlier.ordering_key == WebhookDelivery.ordering_key,
        earlier.status == PENDING,
        earlier.id < WebhookDelivery.id,
    )


async def claim_due(
    s: AsyncSession, *, now: datetime, node_id: str, lease: timedelta, limit: int
) -> list[Job]:
    free = or_(WebhookDelivery.lease_expires_at.is_(None), WebhookDelivery.lease_expires_at < now)
    due = (
        select(WebhookDelivery)
        .where(
            WebhookDelivery.status == PENDING,
            WebhookDelivery.next_attempt_at <= now,
            free,
            _first_in_line(),
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=WebhookDelivery)
    )
    claimed = list(await s.scalars(due))
    if not claimed:
        return []
    await s.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_([d.id for d in claimed]))
        .values(leased_by=node_id, lease_expires_at=now + lease)
        .execution_options(synchronize_session=False)
    )
    return await _jobs(s, claimed)


async def _jobs(s: AsyncSession, claimed: list[WebhookDelivery]) -> list[Job]:
    ids = [d.id for d in claimed]
    rows = await s.execute(
        select(WebhookDelivery, WebhookEndpoint, WebhookEvent)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.id.in_(ids))
        .order_by(WebhookDelivery.id)
    )
    return [
        Job(
            delivery_id=d.id,
            endpoint_id=e.id,
            url=e.url,
            secret=e.secret,
            event_id=ev.event_id,
            event_type=ev.type,
            body=ev.body,
            attempts=d.attempts,
            created_at=d.created_at,
        )
        for d, e, ev in rows
    ]


@dataclass(frozen=True, slots=True)
class AttemptResult:
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int
    next_attempt_at: datetime | None  # None: delivered, or given up (see `delivered`)
    delivered: bool


async def record(s: AsyncSession, job: Job, node_id: str, result: AttemptResult) -> None:
    """The attempt in the log, and the delivery's new state; the lease is released."""
    s.add(
        WebhookAttempt(
            delivery_id=job.delivery_id,
            attempted_at=result.at,
            status_code=result.status_code,
            error=result.error,
            duration_ms=result.duration_ms,
        )
    )
    if result.delivered:
        status, finished = WebhookDeliveryStatus.DELIVERED, result.at
    elif result.next_attempt_at is None:
        status, finished = WebhookDeliveryStatus.FAILED, result.at
    else:
        status, finished = PENDING, None
    await s.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == job.delivery_id,
            and_(WebhookDelivery.leased_by == node_id, WebhookDelivery.status == PENDING),
        )
        .values(
            status=status,
            attempts=WebhookDelivery.attempts + 1,
            next_attempt_at=result.next_attempt_at or result.at,
            finished_at=finished,
            last_status_code=result.status_code,
            last_error=result.error,
            leased_by=None,
            lease_expires_at=None,
        )
        .execution_options(synchronize_session=False)
    )
