"""Server-rendered pages: dashboard, call, campaign, profile (and verifying its phone
number), do-not-call.

Pages read through the same views as the JSON API; their forms post here with the CSRF
field and redirect back (post/redirect/get), or re-render with the problem at 422.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response, status
from fastapi.responses import RedirectResponse

from common.phone_numbers import to_e164
from database.repositories import calls, dnd, task_events
from web_interface import accounts, views
from web_interface.deps import DbSession, Deps, FormCsrf, OptionalUser, PageUser
from web_interface.latency_chart import latency_svg
from web_interface.pagination import FETCH, links, offset, page_of
from web_interface.schemas import (
    CallId,
    Clean,
    Id,
    PageNumber,
)
from web_interface.templating import render, see_other

router = APIRouter(tags=["pages"])
Text = Annotated[Clean, Form(max_length=20_000)]
RECENT_CALLS = 20  # the dashboard's activity feed: recent, not a list to page through


def back(path: str) -> Response:
    return RedirectResponse(path, status_code=status.HTTP_303_SEE_OTHER)


@router.get("/")
async def dashboard(
    request: Request,
    visitor: OptionalUser,
    s: DbSession,
    deps: Deps,
    page: PageNumber = 1,
    campaigns_page: PageNumber = 1,
) -> Response:
    """Campaigns and tasks a page each (`campaigns_page`, `page`), the 20 latest calls;
    for a visitor without a session, what OpenDeep is and what it needs."""
    if visitor is None or request.state.auth != "session":
        return render(request, "landing.html")
    user = visitor
    campaigns = await views.campaign_list(s, user.id, campaigns_page)
    task_rows = await views.task_page(s, user.id, page, outlook=deps.outlook)
    context = {
        "campaigns": campaigns.items,
        "campaign_pages": links(request, campaigns, "campaigns_page"),
        "tasks": task_rows.items,
        "task_pages": links(request, task_rows),
        "calls": await calls.list_for_user(s, user_id=user.id, limit=RECENT_CALLS),
    }
    return render(request, "dashboard.html", context, user=user)


@router.get("/campaigns/{campaign_id}")
async def campaign_page(
    campaign_id: Id,
    request: Request,
    user: PageUser,
    s: DbSession,
    deps: Deps,
    page: PageNumber = 1,
) -> Response:
    campaign = await views.campaign_detail(s, user.id, campaign_id)
    task_rows = await views.task_page(s, user.id, page, campaign_id, deps.outlook)
    task_ids = [t.id for t in task_rows.items]
    context = {
        "campaign": campaign,
        "tasks": task_rows.items,
        "task_pages": links(request, task_rows),
        "timelines": await task_events.for_tasks(s, user_id=user.id, task_ids=task_ids),
    }
    return render(request, "campaign.html", context, user=user)


@router.get("/calls/{call_id}")
async def call_page(call_id: CallId, request: Request, user: PageUser, s: DbSession) -> Response:
    call = await views.call_detail(s, user.id, call_id)
    context = {
        "call": call,
        "chart": latency_svg(call.latency_ms),
        "offsets": views.seconds_into_recording(call),
    }
    return render(request, "call.html", context, user=user)


async def _dnd_context(request: Request, s: DbSession, user_id: int, page: int) -> dict[str, Any]:
    rows = await dnd.list_for_user(s, user_id=user_id, offset=offset(page), limit=FETCH)
    entries = page_of(rows, page)
    return {"entries": entries.items, "entry_pages": links(request, entries)}


@router.get("/dnd")
async def dnd_page(
    request: Request, user: PageUser, s: DbSession, page: PageNumber = 1
) -> Response:
    context = await _dnd_context(request, s, user.id, page)
    return render(request, "dnd.html", context, user=user)


@router.post("/dnd", dependencies=[FormCsrf])
async def dnd_add(
    request: Request,
    user: PageUser,
    s: DbSession,
    deps: Deps,
    phone_number: Annotated[Clean, Form(max_length=40)],
    reason: Annotated[Clean, Form(max_length=500)] = "",
) -> Response:
    try:
        number = to_e164(phone_number, deps.default_region)
    except ValueError as exc:
        context = await _dnd_context(request, s, user.id, 1)
        typed = phone_number.strip()
        context |= {"error": f'"{typed}" {exc}.', "typed": phone_number, "reason": reason}
        return render(request, "dnd.html", context, user=user, status_code=422)
    await dnd.add(s, user_id=user.id, phone_number=number, reason=reason.strip())
    return see_other(request, "/dnd", f"{number} is on your do-not-call list.")


@router.post("/dnd/{entry_id}/delete", dependencies=[FormCsrf])
async def dnd_delete(request: Request, entry_id: Id, user: PageUser, s: DbSession) -> Response:
    await accounts.remove_dnd_entry(s, user.id, entry_id)
    return see_other(request, "/dnd", "The number is off your do-not-call list.")
