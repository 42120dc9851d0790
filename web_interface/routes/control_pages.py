"""The page forms that act on live work: the buttons on the call page (live calls), the
campaign page and the task lists (tasks that need the person).

Each posts with the CSRF field and goes back to where it came from (post/redirect/get);
when the action is refused (the call is over, the number is not verified...) the person
gets a page saying why. Destructive buttons ask first (static/confirm.js).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Literal

from fastapi import APIRouter, Form, HTTPException, Request, Response, status

from database.models import User
from web_interface import live_control
from web_interface.deps import Bus, DbSession, Deps, FormCsrf, PageUser
from web_interface.schemas import CallId, Clean, Id
from web_interface.templating import render, see_other

router = APIRouter(tags=["control pages"])
Back = Literal["dashboard", "campaign", "notifications"]
BACK = {"dashboard": "/", "notifications": "/notifications"}


DONE = {
    "hangup": "Hanging up the call.",
    "take_over": "Putting the call through to your phone.",
    "pause": "The campaign is paused: no new calls start.",
    "resume": "The campaign is running again.",
    "cancel": "The campaign is cancelled; calls in progress finish.",
    "settle": "The task is settled.",
}


async def _done_or_why(
    request: Request, user: User, action: Awaitable[object], back: str, done: str
) -> Response:
    try:
        await action
    except HTTPException as exc:
        if exc.status_code == status.HTTP_404_NOT_FOUND:
            raise
        context = {"why": exc.detail, "back": back}
        code = exc.status_code
        return render(request, "refused.html", context, user=user, status_code=code, page_url=back)
    return see_other(request, back, DONE[done])


@router.post("/calls/{call_id}/hangup", dependencies=[FormCsrf])
async def hang_up(
    call_id: CallId, request: Request, user: PageUser, s: DbSession, bus: Bus
) -> Response:
    action = live_control.hang_up(s, bus, user, call_id)
    return await _done_or_why(request, user, action, f"/calls/{call_id}", "hangup")


@router.post("/calls/{call_id}/take-over", dependencies=[FormCsrf])
async def take_over(
    call_id: CallId, request: Request, user: PageUser, s: DbSession, bus: Bus
) -> Response:
    action = live_control.take_over(s, bus, user, call_id)
    return await _done_or_why(request, user, action, f"/calls/{call_id}", "take_over")


async def _campaign(
    request: Request, user: User, s: DbSession, deps: Deps, campaign_id: int, act: str
) -> Response:
    action = live_control.campaign_action(s, deps, user, campaign_id, act)
    return await _done_or_why(request, user, action, f"/campaigns/{campaign_id}", act)


@router.post("/campaigns/{campaign_id}/pause", dependencies=[FormCsrf])
async def pause(
    campaign_id: Id, request: Request, user: PageUser, s: DbSession, deps: Deps
) -> Response:
    return await _campaign(request, user, s, deps, campaign_id, "pause")


@router.post("/campaigns/{campaign_id}/resume", dependencies=[FormCsrf])
async def resume(
    campaign_id: Id, request: Request, user: PageUser, s: DbSession, deps: Deps
) -> Response:
    return await _campaign(request, user, s, deps, campaign_id, "resume")


@router.post("/campaigns/{campaign_id}/cancel", dependencies=[FormCsrf])
async def cancel(
    campaign_id: Id, request: Request, user: PageUser, s: DbSession, deps: Deps
) -> Response:
    return await _campaign(request, user, s, deps, campaign_id, "cancel")


@router.post("/tasks/{task_id}/settle", dependencies=[FormCsrf])
async def settle(
    task_id: Id,
    request: Request,
    user: PageUser,
    s: DbSession,
    deps: Deps,
    decision: Annotated[Literal["done", "retry", "fail"], Form()],
    note: Annotated[Clean, Form(max_length=500)] = "",
    back: Annotated[Back, Form()] = "dashboard",
    campaign_id: Annotated[Id | None, Form()] = None,
) -> Response:
    """`back` is where the form was (a campaign page names its campaign)."""
    target = BACK.get(back, "/")
    if back == "campaign" and campaign_id is not None:
        target = f"/campaigns/{campaign_id}"
    action = live_control.settle(s, deps, user, task_id, decision, note.strip())
    return await _done_or_why(request, user, action, target, "settle")
