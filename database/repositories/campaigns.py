"""Campaigns, always read and written through their owner's user_id."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from common.call_policy import CallPolicy, RecordingPolicy, VoicemailPolicy
from database.models import Campaign
from database.repositories.base import apply_changes
from database.states import CampaignStatus

UPDATABLE = frozenset(
    {"name", "goal", "stop_after_successes", "status", "window_start", "window_end",
     "window_days", "summary", "finished_at", "voicemail_policy", "voicemail_message_counts",
     "max_hold_minutes", "asterisk_amd"}
)  # fmt: skip


async def create(
    s: AsyncSession,
    *,
    user_id: int,
    name: str,
    goal: str = "",
    stop_after_successes: int | None = None,
    status: CampaignStatus = CampaignStatus.ACTIVE,
    window_start: time | None = None,
    window_end: time | None = None,
    window_days: str | None = None,
    language: str = "",
    policy: CallPolicy | None = None,
) -> Campaign:
    policy = policy or CallPolicy()
    campaign = Campaign(
        user_id=user_id,
        name=name,
        goal=goal,
        stop_after_successes=stop_after_successes,
        status=status,
        window_start=window_start,
        window_end=window_end,
        window_days=window_days,
        language=language,
        voicemail_policy=str(policy.voicemail),
        voicemail_message_counts=policy.message_counts,
        max_hold_minutes=policy.max_hold_minutes,
        asterisk_amd=policy.asterisk_amd,
        recording=str(policy.recording),
    )
    s.add(campaign)
    await s.flush()
    return campaign


async def get(s: AsyncSession, *, user_id: int, campaign_id: int) -> Campaign | None:
    return await s.scalar(
        select(Campaign).where(Campaign.id == campaign_id, Campaign.user_id == user_id)
    )


async def list_for_user(
    s: AsyncSession,
    *,
    user_id: int,
    status: CampaignStatus | None = None,
    limit: int | None = None,
    offset: int = 0,
    since: datetime | None = None,
) -> list[Campaign]:
    """Newest first; `since`: created at or after it."""
    query = select(Campaign).where(Campaign.user_id == user_id)
    if status is not None:
        query = query.where(Campaign.status == status)
    if since is not None:
        query = query.where(Campaign.created_at >= since)
    query = query.order_by(Campaign.created_at.desc(), Campaign.id.desc())
    return list(await s.scalars(query.offset(offset).limit(limit)))


async def update(
    s: AsyncSession, *, user_id: int, campaign_id: int, **changes: Any
) -> Campaign | None:
    campaign = await get(s, user_id=user_id, campaign_id=campaign_id)
    if campaign is None:
        return None
    apply_changes(campaign, changes, UPDATABLE)
    await s.flush()
    return campaign


def policy_of(campaign: Campaign | None) -> CallPolicy:
    """What the campaign asks of its calls at machines and on hold (defaults without one)."""
    if campaign is None:
        return CallPolicy()
    return CallPolicy(
        voicemail=VoicemailPolicy.parse(campaign.voicemail_policy),
        message_counts=bool(campaign.voicemail_message_counts),
        max_hold_minutes=campaign.max_hold_minutes or CallPolicy().max_hold_minutes,
        asterisk_amd=bool(campaign.asterisk_amd),
        recording=RecordingPolicy.parse(campaign.recording),
    )
