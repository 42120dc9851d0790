"""/api/v1 tasks and calls: what happened, filtered and paged (v1_views.py).

A call comes with its transcript (turns as heard), its events, its outcome and a
`recording_url` (null when not recorded); a task with its status changes. Reading needs
the `read` scope.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import AwareDatetime

from database.states import CallStatus, TaskStatus
from web_interface import v1_views
from web_interface.api_errors import ERROR_RESPONSES
from web_interface.deps import DbSession, Deps, ReadUser
from web_interface.schemas import CallId, Id, PageNumber
from web_interface.v1_schemas import CallDetailV1, CallV1, Paged, TaskDetailV1, TaskV1

router = APIRouter(prefix="/api/v1", tags=["tasks and calls"], responses=ERROR_RESPONSES)
ChangedSince = Annotated[
    AwareDatetime | None,
    Query(description="only tasks changed at or after this time, e.g. 2026-12-01T00:00:00Z"),
]
StartedSince = Annotated[
    AwareDatetime | None,
    Query(description="only calls started at or after this time, e.g. 2026-12-01T00:00:00Z"),
]


@router.get("/tasks")
async def list_tasks(
    request: Request, response: Response, user: ReadUser, s: DbSession, deps: Deps,
    campaign_id: Id | None = None, status: TaskStatus | None = None,
    since: ChangedSince = None, page: PageNumber = 1,
) -> Paged[TaskV1]:  # fmt: skip
    """In the order they were created; a waiting one says why in `waiting_reason`."""
    filters = (campaign_id, status, since)
    found = await v1_views.task_page(s, user.id, page, filters, deps.outlook)
    return v1_views.paged(request, response, found)


@router.get("/tasks/{task_id}")
async def get_task(task_id: Id, user: ReadUser, s: DbSession, deps: Deps) -> TaskDetailV1:
    """The task with its calls (one per attempt) and its status changes."""
    return await v1_views.task(s, user.id, task_id, deps.outlook)


@router.get("/calls")
async def list_calls(
    request: Request, response: Response, user: ReadUser, s: DbSession,
    status: CallStatus | None = None, since: StartedSince = None,
    task_id: Id | None = None, page: PageNumber = 1,
) -> Paged[CallV1]:  # fmt: skip
    """Newest first."""
    found = await v1_views.call_page(s, user.id, page, status, since, task_id)
    return v1_views.paged(request, response, found)


@router.get("/calls/{call_id}")
async def get_call(call_id: CallId, user: ReadUser, s: DbSession) -> CallDetailV1:
    """The call with its turns, events and outcome."""
    return await v1_views.call(s, user.id, call_id)
