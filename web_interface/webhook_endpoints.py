"""The person's webhook endpoints, shared by the pages and the JSON API.

A URL is checked when it is saved: http(s), no credentials, and (unless the operator
allows private targets) a host whose every address is public. The delivery worker checks
again at each attempt, since a name can be re-pointed after it was saved.
"""

from __future__ import annotations

from collections.abc import Collection

from fastapi import HTTPException, status
from sqlalchemy.ext.asyncio import AsyncSession

from common.webhook_resolve import checked_address
from common.webhook_targets import TargetRefused, parse_target
from database.models import WebhookEndpoint
from database.repositories import webhooks
from web_interface.schemas import WebhookAttemptPublic, WebhookDeliveryPublic
from web_interface.views import not_found


async def checked_url(url: str, allow_private: bool) -> str:
    """The URL as typed, or 422 saying why it may not receive webhooks."""
    try:
        await checked_address(parse_target(url), allow_private)
    except TargetRefused as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"url: {exc}") from None
    return url.strip()


async def create(
    s: AsyncSession,
    user_id: int,
    *,
    url: str,
    events: Collection[str],
    description: str,
    allow_private: bool,
) -> WebhookEndpoint:
    checked = await checked_url(url, allow_private)
    try:
        return await webhooks.create_endpoint(
            s, user_id=user_id, url=checked, events=events, description=description
        )
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None


async def owned(s: AsyncSession, user_id: int, endpoint_id: int) -> WebhookEndpoint:
    endpoint = await webhooks.get_endpoint(s, user_id=user_id, endpoint_id=endpoint_id)
    if endpoint is None:
        raise not_found("webhook endpoint")
    return endpoint


async def update(
    s: AsyncSession, user_id: int, endpoint_id: int, allow_private: bool, **changes: object
) -> WebhookEndpoint:
    await owned(s, user_id, endpoint_id)
    if isinstance(changes.get("url"), str):
        changes["url"] = await checked_url(str(changes["url"]), allow_private)
    try:
        updated = await webhooks.update_endpoint(
            s, user_id=user_id, endpoint_id=endpoint_id, **changes
        )
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    assert updated is not None  # owned above, in this transaction
    return updated


async def delivery_log(
    s: AsyncSession, user_id: int, endpoint_id: int, limit: int, offset: int
) -> list[WebhookDeliveryPublic]:
    await owned(s, user_id, endpoint_id)
    found = await webhooks.deliveries(
        s, user_id=user_id, endpoint_id=endpoint_id, limit=limit, offset=offset
    )
    return [_delivery_public(d) for d in found]


def _delivery_public(d: webhooks.LoggedDelivery) -> WebhookDeliveryPublic:
    row = d.delivery
    return WebhookDeliveryPublic(
        id=row.id, event_id=d.event_id, event_type=d.event_type, status=str(row.status),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at if row.finished_at is None else None,
        created_at=row.created_at, finished_at=row.finished_at,
        log=[WebhookAttemptPublic.model_validate(a) for a in d.attempts],
    )  # fmt: skip


async def redeliver(s: AsyncSession, user_id: int, delivery_id: int) -> int:
    """The new delivery's id; 404 when the delivery is not this user's."""
    again = await webhooks.redeliver(s, user_id=user_id, delivery_id=delivery_id)
    if again is None:
        raise not_found("webhook delivery")
    return again.id
