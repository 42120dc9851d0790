"""A person's webhook endpoints, and what was sent to them (the delivery log).

Scoped like every repository: each function takes the user_id and touches only their
rows. The outbox itself is written by webhook_outbox.py; the worker's side (claim, record
an attempt) is in webhook_deliveries.py.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from common.webhook_events import EVENT_TYPES
from database.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from database.repositories import webhook_outbox
from database.repositories.base import apply_changes
from database.states import WebhookDeliveryStatus
from database.types import utcnow

UPDATABLE = frozenset({"url", "description", "events", "enabled"})
MAX_ENDPOINTS = 20  # per person: each event is written once per endpoint


def check_events(events: Collection[str]) -> list[str]:
    """The event types, known and at least one, in the documented order."""
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        raise ValueError(f"unknown event types: {', '.join(unknown)}")
    if not events:
        raise ValueError("choose at least one event type")
    return [e for e in EVENT_TYPES if e in events]


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


async def create_endpoint(
    s: AsyncSession, *, user_id: int, url: str, events: Collection[str], description: str = ""
) -> WebhookEndpoint:
    """The URL must already have passed the target check (common/webhook_targets.py)."""
    count = await s.scalar(
        select(func.count()).select_from(WebhookEndpoint).where(WebhookEndpoint.user_id == user_id)
    )
    if int(count or 0) >= MAX_ENDPOINTS:
        raise ValueError(f"at most {MAX_ENDPOINTS} endpoints per person")
    endpoint = WebhookEndpoint(
        user_id=user_id, url=url, description=description, events=check_events(events),
        secret=new_secret(), enabled=True, created_at=utcnow(),
    )  # fmt: skip
    s.add(endpoint)
    await s.flush()
    webhook_outbox.forget_endpoints(s)
    return endpoint


async def get_endpoint(
    s: AsyncSession, *, user_id: int, endpoint_id: int
) -> WebhookEndpoint | None:
    return await s.scalar(
        select(WebhookEndpoint).where(
            WebhookEndpoint.id == endpoint_id, WebhookEndpoint.user_id == user_id
        )
    )


async def list_endpoints(s: AsyncSession, *, user_id: int) -> list[WebhookEndpoint]:
    query = select(WebhookEndpoint).where(WebhookEndpoint.user_id == user_id)
    return list(await s.scalars(query.order_by(WebhookEndpoint.id)))


async def update_endpoint(
    s: AsyncSession, *, user_id: int, endpoint_id: int, **changes: Any
) -> WebhookEndpoint | None:
    endpoint = await get_endpoint(s, user_id=user_id, endpoint_id=endpoint_id)
    if endpoint is None:
        return None
    if "events" in changes:
        changes["events"] = check_events(changes["events"])
    apply_changes(endpoint, changes, UPDATABLE)
    await s.flush()
    webhook_outbox.forget_endpoints(s)
    return endpoint


async def delete_endpoint(s: AsyncSession, *, user_id: int, endpoint_id: int) -> bool:
    """Its deliveries and their log go with it (ON DELETE CASCADE)."""
    endpoint = await get_endpoint(s, user_id=user_id, endpoint_id=endpoint_id)
    if endpoint is None:
        return False
    await s.delete(endpoint)
    await s.flush()
    webhook_outbox.forget_endpoints(s)
    return True


@dataclass(frozen=True, slots=True)
class LoggedDelivery:
    delivery: WebhookDelivery
    event_id: str  # the event's public id (what receivers de-duplicate on)
    event_type: str
    attempts: list[WebhookAttempt]


async def deliveries(
    s: AsyncSession, *, user_id: int, endpoint_id: int, limit: int = 50, offset: int = 0
) -> list[LoggedDelivery]:
    """An endpoint's deliveries, newest first, each with its attempts (oldest first)."""
    query = (
        select(WebhookDelivery, WebhookEvent.event_id, WebhookEvent.type)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.user_id == user_id, WebhookDelivery.endpoint_id == endpoint_id)
        .order_by(WebhookDelivery.id.desc())
        .offset(offset)
        .limit(limit)
    )
    rows = list(await s.execute(query))
    ids = [delivery.id for delivery, _, _ in rows]
    attempts: dict[int, list[WebhookAttempt]] = {i: [] for i in ids}
    if ids:
        found = await s.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(ids))
            .order_by(WebhookAttempt.id)
        )
        for attempt in found:
            attempts[attempt.delivery_id].append(attempt)
    return [LoggedDelivery(d, eid, kind, attempts[d.id]) for d, eid, kind in rows]


async def redeliver(s: AsyncSession, *, user_id: int, delivery_id: int) -> WebhookDelivery | None:
    """The same event (same id and body) to the same endpoint again, as a new delivery
    due now; the old one and its log stay. None when it is not this user's."""
    old = await s.scalar(
        select(WebhookDelivery).where(
            WebhookDelivery.id == delivery_id, WebhookDelivery.user_id == user_id
        )
    )
    if old is None:
        return None
    now = utcnow()
    again = WebhookDelivery(
        event_id=old.event_id, endpoint_id=old.endpoint_id, user_id=user_id,
        ordering_key=old.ordering_key, status=WebhookDeliveryStatus.PENDING,
        next_attempt_at=now, created_at=now,
    )  # fmt: skip
    s.add(again)
    await s.flush()
    return again
