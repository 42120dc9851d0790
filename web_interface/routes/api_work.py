"""JSON API over the person's work: campaigns (with progress), tasks, calls.

Lists come a page (50) at a time: `?page=N`, neighbours in the `Link` header.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import FileResponse

from database.repositories import calls
from web_interface import private_calls, views
from web_interface.deps import DbSession, Deps, ReadUser
from web_interface.pagination import FETCH, offset, page_of, set_link_header
from web_interface.schemas import (
    CallDetail,
    CallId,
    CallPublic,
    CampaignPublic,
    Id,
    PageNumber,
    TaskDetail,
    TaskPublic,
)

router = APIRouter(prefix="/api", tags=["work"])


@router.get("/campaigns")
async def list_campaigns(
    request: Request, response: Response, user: ReadUser, s: DbSession, page: PageNumber = 1
) -> list[CampaignPublic]:
    found = await views.campaign_list(s, user.id, page)
    set_link_header(response, request, found)
    return found.items


@router.get("/campaigns/{campaign_id}")
async def get_campaign(campaign_id: Id, user: ReadUser, s: DbSession) -> CampaignPublic:
    return await views.campaign_detail(s, user.id, campaign_id)


@router.get("/tasks")
async def list_tasks(
    request: Request,
    response: Response,
    user: ReadUser,
    s: DbSession,
    deps: Deps,
    campaign_id: Id | None = None,
    page: PageNumber = 1,
) -> list[TaskPublic]:
    found = await views.task_page(s, user.id, page, campaign_id, deps.outlook)
    set_link_header(response, request, found)
    return found.items


@router.get("/tasks/{task_id}")
async def get_task(task_id: Id, user: ReadUser, s: DbSession, deps: Deps) -> TaskDetail:
    return await views.task_detail(s, user.id, task_id, deps.outlook)


@router.get("/calls")
async def list_calls(
    request: Request, response: Response, user: ReadUser, s: DbSession, page: PageNumber = 1
) -> list[CallPublic]:
    rows = await calls.list_for_user(s, user_id=user.id, offset=offset(page), limit=FETCH)
    found = page_of([CallPublic.model_validate(c) for c in rows], page)
    set_link_header(response, request, found)
    return found.items


@router.get("/calls/{call_id}")
async def get_call(call_id: CallId, user: ReadUser, s: DbSession) -> CallDetail:
    return await views.call_detail(s, user.id, call_id)


@router.get("/calls/{call_id}/recording", response_class=FileResponse)
async def get_recording(call_id: CallId, user: ReadUser, s: DbSession, deps: Deps) -> Response:
    """Both sides of the call as a WAV (callee left, agent right), with range requests so
    a browser can seek; 404 for a call that is not the person's, not recorded, or private."""
    call = await calls.get(s, user_id=user.id, call_id=call_id)
    if (
        call is None
        or not call.recording_path
        or deps.recordings_dir is None
        or await private_calls.is_private(s, user.id, call_id)
    ):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no recording of this call")
    path = deps.recordings_dir / call.recording_path
    if not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no recording of this call")
    return FileResponse(path, media_type="audio/wav", filename=f"call-{call_id}.wav")
