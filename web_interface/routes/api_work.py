"""JSON API over the person's work: campaigns (with progress), tasks, calls."""

from __future__ import annotations

from fastapi import APIRouter, Query

from database.repositories import calls, tasks
from web_interface import views
from web_interface.deps import DbSession, ReadUser
from web_interface.schemas import CallDetail, CallPublic, CampaignPublic, TaskDetail, TaskPublic

router = APIRouter(prefix="/api", tags=["work"])


@router.get("/campaigns")
async def list_campaigns(user: ReadUser, s: DbSession) -> list[CampaignPublic]:
    return await views.campaign_list(s, user.id)


@router.get("/campaigns/{campaign_id}")
async def get_campaign(campaign_id: int, user: ReadUser, s: DbSession) -> CampaignPublic:
    return await views.campaign_detail(s, user.id, campaign_id)


@router.get("/tasks")
async def list_tasks(
    user: ReadUser, s: DbSession, campaign_id: int | None = Query(default=None)
) -> list[TaskPublic]:
    rows = await tasks.list_for_user(s, user_id=user.id, campaign_id=campaign_id)
    return [TaskPublic.model_validate(t) for t in rows]


@router.get("/tasks/{task_id}")
async def get_task(task_id: int, user: ReadUser, s: DbSession) -> TaskDetail:
    return await views.task_detail(s, user.id, task_id)


@router.get("/calls")
async def list_calls(
    user: ReadUser, s: DbSession, limit: int = Query(default=50, ge=1, le=500)
) -> list[CallPublic]:
    rows = await calls.list_for_user(s, user_id=user.id, limit=limit)
    return [CallPublic.model_validate(c) for c in rows]


@router.get("/calls/{call_id}")
async def get_call(call_id: str, user: ReadUser, s: DbSession) -> CallDetail:
    return await views.call_detail(s, user.id, call_id)
