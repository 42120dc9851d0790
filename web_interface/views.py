"""Read models shared by the JSON API and the pages: always through the user's repositories."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import HTTPException, status
from sqlalchemy.ext.asyncio import AsyncSession

from database.models import Campaign, User
from database.repositories import calls, campaigns, tasks, turns
from database.states import TaskStatus
from web_interface import private_calls
from web_interface.pagination import FETCH, Page, offset, page_of
from web_interface.schemas import (
    CallDetail,
    CallEventPublic,
    CallPublic,
    CampaignPublic,
    ProfilePublic,
    Progress,
    TaskDetail,
    TaskPublic,
    TurnPublic,
)
from web_interface.task_outlook import TaskOutlook


def not_found(what: str) -> HTTPException:
    """The same answer for "does not exist" and "is someone else's": ids reveal nothing."""
    return HTTPException(status.HTTP_404_NOT_FOUND, f"{what} not found")


def progress(counts: Mapping[str, int]) -> Progress:
    done = sum(n for name, n in counts.items() if TaskStatus(name).is_final)
    return Progress(total=sum(counts.values()), done=done, by_status=dict(counts))


def campaign_public(campaign: Campaign, counts: Mapping[str, int]) -> CampaignPublic:
    data = {k: getattr(campaign, k) for k in CampaignPublic.model_fields if k != "progress"}
    return CampaignPublic(**data, progress=progress(counts))


async def campaign_list(s: AsyncSession, user_id: int, number: int) -> Page[CampaignPublic]:
    """One page of campaigns, each with its progress counted in the database."""
    rows = await campaigns.list_for_user(s, user_id=user_id, offset=offset(number), limit=FETCH)
    page = page_of(rows, number)
    counts = await tasks.status_counts(s, user_id=user_id, campaign_ids=[c.id for c in page.items])
    items = [campaign_public(c, counts.get(c.id, {})) for c in page.items]
    return Page(items, page.number, page.has_next)


async def campaign_detail(s: AsyncSession, user_id: int, campaign_id: int) -> CampaignPublic:
    campaign = await campaigns.get(s, user_id=user_id, campaign_id=campaign_id)
    if campaign is None:
        raise not_found("campaign")
    counts = await tasks.status_counts(s, user_id=user_id, campaign_ids=[campaign_id])
    return campaign_public(campaign, counts.get(campaign_id, {}))


async def task_page(
    s: AsyncSession,
    user_id: int,
    number: int,
    campaign_id: int | None = None,
    outlook: TaskOutlook | None = None,
) -> Page[TaskPublic]:
    rows = await tasks.list_for_user(
        s, user_id=user_id, campaign_id=campaign_id, offset=offset(number), limit=FETCH
    )
    page = page_of(rows, number)
    public = [TaskPublic.model_validate(t) for t in page.items]
    items = await with_reasons(s, user_id, public, outlook)
    return Page(items, number, page.has_next)


async def with_reasons(
    s: AsyncSession, user_id: int, items: list[TaskPublic], outlook: TaskOutlook | None
) -> list[TaskPublic]:
    """Each waiting task with why it is not called now (task_outlook.py), when known."""
    if outlook is None or not items:
        return items
    reasons = await outlook.reasons(s, user_id, [t.id for t in items])
    return [t.model_copy(update={"waiting_reason": reasons.get(t.id)}) for t in items]


async def task_detail(
    s: AsyncSession, user_id: int, task_id: int, outlook: TaskOutlook | None = None
) -> TaskDetail:
    task = await tasks.get(s, user_id=user_id, task_id=task_id)
    if task is None:
        raise not_found("task")
    attempts = await calls.list_for_task(s, user_id=user_id, task_id=task_id)
    [public] = await with_reasons(s, user_id, [TaskPublic.model_validate(task)], outlook)
    return TaskDetail(**public.model_dump(), calls=[CallPublic.model_validate(c) for c in attempts])


async def call_detail(s: AsyncSession, user_id: int, call_id: str) -> CallDetail:
    call = await calls.get(s, user_id=user_id, call_id=call_id)
    if call is None:
        raise not_found("call")
    events = await calls.list_events(s, user_id=user_id, call_id=call_id)
    said = await turns.list_for_call(s, user_id=user_id, call_id=call_id)
    detail = CallDetail(
        **CallPublic.model_validate(call).model_dump(),
        direction=str(call.direction),
        amd_status=call.amd_status,
        summary=call.summary,
        facts=dict(call.facts or {}),
        latency_ms=list(call.latency_ms or []),
        events=[CallEventPublic.model_validate(e) for e in events],
        turns=[TurnPublic.model_validate(t) for t in said],
    )
    if call.recording_path:
        detail.recording_url = recording_url(call_id)
        detail.recording_seconds = call.recording_seconds
    private = await private_calls.is_private(s, user_id, call_id)
    return private_calls.hidden(detail) if private else detail


def recording_url(call_id: str) -> str:
    return f"/api/calls/{call_id}/recording"


def seconds_into_recording(detail: CallDetail) -> dict[int, float]:
    """Where each turn starts in the recording, by turn seq: the recording ends at the
    hang-up and lasts recording_seconds (it starts after Answer, and after AMD if run)."""
    if detail.recording_seconds is None or detail.ended_at is None:
        return {}
    began = detail.ended_at.timestamp() - detail.recording_seconds
    return {t.seq: max(0.0, t.started_at.timestamp() - began) for t in detail.turns}


def profile_public(user: User) -> ProfilePublic:
    return ProfilePublic(
        email=user.email,
        display_name=user.display_name,
        phone_number=user.phone_number,
        phone_verified=user.phone_number is not None and user.phone_verified_at is not None,
        time_zone=user.time_zone,
        facts=dict(user.profile.facts),
        never_share=list(user.profile.never_share),
    )
