"""The Webhooks page: endpoints (add, pause, remove) and each endpoint's delivery log
with "Redeliver". Forms post with the CSRF field and redirect back; a new endpoint's
secret is shown on the page that answers its creation, and never again."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request, Response, status
from fastapi.responses import RedirectResponse

from common.webhook_events import EVENT_TYPES
from database.repositories import webhooks
from web_interface import webhook_endpoints
from web_interface.deps import DbSession, Deps, FormCsrf, PageUser
from web_interface.pagination import FETCH, links, offset, page_of
from web_interface.schemas import Clean, Id, PageNumber
from web_interface.templating import render

router = APIRouter(tags=["pages"])
Url = Annotated[Clean, Form(max_length=2048)]
Description = Annotated[Clean, Form(max_length=200)]


def back(path: str) -> Response:
    return RedirectResponse(path, status_code=status.HTTP_303_SEE_OTHER)


async def _list_context(s: DbSession, user_id: int) -> dict[str, Any]:
    return {
        "endpoints": await webhooks.list_endpoints(s, user_id=user_id),
        "event_types": EVENT_TYPES,
    }


@router.get("/webhooks")
async def webhooks_page(request: Request, user: PageUser, s: DbSession) -> Response:
    return render(request, "webhooks.html", await _list_context(s, user.id), user=user)


@router.post("/webhooks", dependencies=[FormCsrf])
async def webhook_add(
    request: Request,
    user: PageUser,
    s: DbSession,
    deps: Deps,
    url: Url,
    description: Description = "",
) -> Response:
    form = await request.form()
    events = [str(e) for e in form.getlist("events")]
    try:
        made = await webhook_endpoints.create(
            s, user.id, url=url, events=events, description=description.strip(),
            allow_private=deps.webhook_allow_private,
        )  # fmt: skip
    except HTTPException as exc:
        context = {**await _list_context(s, user.id), "error": exc.detail, "typed": url}
        return render(request, "webhooks.html", context, user=user, status_code=422)
    context = {**await _list_context(s, user.id), "created": made}
    return render(request, "webhooks.html", context, user=user, status_code=201)


@router.post("/webhooks/{endpoint_id}/delete", dependencies=[FormCsrf])
async def webhook_delete(endpoint_id: Id, user: PageUser, s: DbSession) -> Response:
    await webhook_endpoints.owned(s, user.id, endpoint_id)
    await webhooks.delete_endpoint(s, user_id=user.id, endpoint_id=endpoint_id)
    return back("/webhooks")


@router.post("/webhooks/{endpoint_id}/toggle", dependencies=[FormCsrf])
async def webhook_toggle(endpoint_id: Id, user: PageUser, s: DbSession, deps: Deps) -> Response:
    endpoint = await webhook_endpoints.owned(s, user.id, endpoint_id)
    await webhook_endpoints.update(
        s, user.id, endpoint_id, deps.webhook_allow_private, enabled=not endpoint.enabled
    )
    return back("/webhooks")


@router.get("/webhooks/{endpoint_id}")
async def webhook_log(
    request: Request, endpoint_id: Id, user: PageUser, s: DbSession, page: PageNumber = 1
) -> Response:
    endpoint = await webhook_endpoints.owned(s, user.id, endpoint_id)
    rows = await webhook_endpoints.delivery_log(s, user.id, endpoint_id, FETCH, offset(page))
    found = page_of(rows, page)
    context = {"endpoint": endpoint, "deliveries": found.items, "pages": links(request, found)}
    return render(request, "webhook_log.html", context, user=user)


@router.post("/webhooks/{endpoint_id}/deliveries/{delivery_id}/redeliver", dependencies=[FormCsrf])
async def webhook_redeliver(
    endpoint_id: Id, delivery_id: Id, user: PageUser, s: DbSession
) -> Response:
    await webhook_endpoints.owned(s, user.id, endpoint_id)
    await webhook_endpoints.redeliver(s, user.id, delivery_id)
    return back(f"/webhooks/{endpoint_id}")
