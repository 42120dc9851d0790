"""Webhook endpoints over JSON: list, create (the secret is in this answer only), read,
change, delete; each endpoint's delivery log, and redelivery.

Reading needs the `read` scope; anything that changes endpoints or sends again needs
`account`, like the do-not-call list.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from database.repositories import webhooks
from web_interface import webhook_endpoints
from web_interface.deps import AccountUser, DbSession, Deps, ReadUser
from web_interface.pagination import FETCH, offset, page_of, set_link_header
from web_interface.schemas import (
    Id,
    PageNumber,
    WebhookCreate,
    WebhookCreated,
    WebhookDeliveryPublic,
    WebhookPublic,
    WebhookUpdate,
)
from web_interface.views import not_found

router = APIRouter(prefix="/api/webhooks", tags=["webhooks"])


@router.get("")
async def list_endpoints(user: ReadUser, s: DbSession) -> list[WebhookPublic]:
    rows = await webhooks.list_endpoints(s, user_id=user.id)
    return [WebhookPublic.model_validate(e) for e in rows]


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_endpoint(
    body: WebhookCreate, user: AccountUser, s: DbSession, deps: Deps
) -> WebhookCreated:
    endpoint = await webhook_endpoints.create(
        s, user.id, url=body.url, events=body.events, description=body.description,
        allow_private=deps.webhook_allow_private,
    )  # fmt: skip
    return WebhookCreated(
        **WebhookPublic.model_validate(endpoint).model_dump(), secret=endpoint.secret
    )


@router.get("/{endpoint_id}")
async def get_endpoint(endpoint_id: Id, user: ReadUser, s: DbSession) -> WebhookPublic:
    return WebhookPublic.model_validate(await webhook_endpoints.owned(s, user.id, endpoint_id))


@router.patch("/{endpoint_id}")
async def update_endpoint(
    endpoint_id: Id, body: WebhookUpdate, user: AccountUser, s: DbSession, deps: Deps
) -> WebhookPublic:
    changes = body.model_dump(exclude_none=True)
    endpoint = await webhook_endpoints.update(
        s, user.id, endpoint_id, deps.webhook_allow_private, **changes
    )
    return WebhookPublic.model_validate(endpoint)


@router.delete("/{endpoint_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_endpoint(endpoint_id: Id, user: AccountUser, s: DbSession) -> Response:
    if not await webhooks.delete_endpoint(s, user_id=user.id, endpoint_id=endpoint_id):
        raise not_found("webhook endpoint")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{endpoint_id}/deliveries")
async def list_deliveries(
    request: Request,
    response: Response,
    endpoint_id: Id,
    user: ReadUser,
    s: DbSession,
    page: PageNumber = 1,
) -> list[WebhookDeliveryPublic]:
    """Newest first, each with every attempt (status code or error, time, duration)."""
    rows = await webhook_endpoints.delivery_log(s, user.id, endpoint_id, FETCH, offset(page))
    found = page_of(rows, page)
    set_link_header(response, request, found)
    return found.items


@router.post("/deliveries/{delivery_id}/redeliver", status_code=status.HTTP_202_ACCEPTED)
async def redeliver(delivery_id: Id, user: AccountUser, s: DbSession) -> dict[str, int]:
    """The same event (same id, same body) again, as a new delivery due now."""
    return {"delivery_id": await webhook_endpoints.redeliver(s, user.id, delivery_id)}
