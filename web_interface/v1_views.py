"""Read models of /api/v1: the person's campaigns, tasks and calls, filtered and paged,
always through their own repositories (another person's id is a 404, as in views.py)."""

from __future__ import annotations

from datetime import datetime

from fastapi import Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from database.models import Campaign, Task
from database.repositories import calls, campaigns, task_events, tasks
from database.states import CallStatus, CampaignStatus, TaskStatus
from web_interface import private_calls, views
from web_interface.pagination import FETCH, Page, T, offset, page_of, set_link_header
from web_interface.schemas import CallPublic, TaskPublic
from web_interface.task_outlook import TaskOutlook
from web_interface.v1_schemas import (
    CallDetailV1,
    CallV1,
    CampaignV1,
    Paged,
    TaskDetailV1,
    TaskEventV1,
    TaskV1,
    Window,
)


def paged(request: Request, response: Response, page: Page[T]) -> Paged[T]:
    """The envelope, and the same neighbours in the `Link` header as /api lists."""
    set_link_header(response, request, page)
    following = page.number + 1 if page.has_next else None
    return Paged(items=page.items, page=page.number, next_page=following)


def campaign_v1(campaign: Campaign, counts: dict[str, int]) -> CampaignV1:
    public = views.campaign_public(campaign, counts)
    window = Window(start=campaign.window_start, end=campaign.window_end, days=campaign.window_days)
    return CampaignV1(
        **public.model_dump(),
        language=campaign.language,
        window=window,
        voicemail_policy=campaign.voicemail_policy,
        voicemail_message_counts=campaign.voicemail_message_counts,
        max_hold_minutes=campaign.max_hold_minutes,
        asterisk_amd=campaign.asterisk_amd,
    )


async def campaign_page(
    s: AsyncSession,
    user_id: int,
    number: int,
    status: CampaignStatus | None,
    since: datetime | None,
) -> Page[CampaignV1]:
    rows = await campaigns.list_for_user(
        s, user_id=user_id, status=status, since=since, offset=offset(number), limit=FETCH
    )
    page = page_of(rows, number)
    counts = await tasks.status_counts(s, user_id=user_id, campaign_ids=[c.id for c in page.items])
    return Page([campaign_v1(c, counts.get(c.id, {})) for c in page.items], number, page.has_next)


async def campaign(s: AsyncSession, user_id: int, campaign_id: int) -> CampaignV1:
    row = await campaigns.get(s, user_id=user_id, campaign_id=campaign_id)
    if row is None:
        raise views.not_found("campaign")
    counts = await tasks.status_counts(s, user_id=user_id, campaign_ids=[campaign_id])
    return campaign_v1(row, counts.get(campaign_id, {}))


async def tasks_v1(
    s: AsyncSession, user_id: int, rows: list[Task], outlook: TaskOutlook | None
) -> list[TaskV1]:
    """With each waiting task's reason, as /api gives it (views.with_reasons)."""
    items: list[TaskPublic] = [TaskV1.model_validate(t) for t in rows]
    return [TaskV1.model_validate(t) for t in await views.with_reasons(s, user_id, items, outlook)]


async def task_page(
    s: AsyncSession,
    user_id: int,
    number: int,
    filters: tuple[int | None, TaskStatus | None, datetime | None],
    outlook: TaskOutlook | None,
) -> Page[TaskV1]:
    """`filters`: campaign id, status, changed since."""
    campaign_id, status, since = filters
    rows = await tasks.list_for_user(
        s, user_id=user_id, campaign_id=campaign_id, statuses=[status] if status else None,
        changed_since=since, offset=offset(number), limit=FETCH,
    )  # fmt: skip
    page = page_of(rows, number)
    return Page(await tasks_v1(s, user_id, page.items, outlook), number, page.has_next)


async def task(
    s: AsyncSession, user_id: int, task_id: int, outlook: TaskOutlook | None
) -> TaskDetailV1:
    row = await tasks.get(s, user_id=user_id, task_id=task_id)
    if row is None:
        raise views.not_found("task")
    attempts = await calls.list_for_task(s, user_id=user_id, task_id=task_id)
    changes = await task_events.timeline(s, user_id=user_id, task_id=task_id)
    [public] = await tasks_v1(s, user_id, [row], outlook)
    return TaskDetailV1(
        **public.model_dump(),
        calls=[CallPublic.model_validate(c) for c in attempts],
        events=[TaskEventV1.model_validate(e) for e in changes],
    )


async def call_page(
    s: AsyncSession,
    user_id: int,
    number: int,
    status: CallStatus | None,
    since: datetime | None,
    task_id: int | None,
) -> Page[CallV1]:
    rows = await calls.list_for_user(
        s, user_id=user_id, status=status, since=since, task_id=task_id,
        offset=offset(number), limit=FETCH,
    )  # fmt: skip
    page = page_of(rows, number)
    items = [CallV1.model_validate(c) for c in page.items]
    for item, row in zip(items, page.items, strict=True):
        if row.recording_path and not await private_calls.is_private(s, user_id, row.id):
            item.recording_url = views.recording_url(row.id)
    return Page(items, number, page.has_next)


async def call(s: AsyncSession, user_id: int, call_id: str) -> CallDetailV1:
    """The call with its turns and events; a private call's words stay hidden (views.py)."""
    detail = await views.call_detail(s, user_id, call_id)
    row = await calls.get(s, user_id=user_id, call_id=call_id)
    assert row is not None  # call_detail found it
    return CallDetailV1(
        **detail.model_dump(),
        end_reason=row.end_reason,
        ended_by=row.ended_by,
        answered_by=row.answered_by,
    )
