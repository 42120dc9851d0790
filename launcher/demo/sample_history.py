"""Sample history for a demo account: one finished campaign, its calls, transcripts and
summary, so a newcomer sees what a week of use looks like before placing a call.

Written through the product's repositories in the sign-up's own transaction, and
summarised by the product's own `build_summary`, so every page shows it exactly as it
would show real history. Labelled "Sample" in the campaign's name.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from database.models import User
from database.repositories import calls, campaigns, tasks, turns
from database.repositories.tasks import NewTask
from database.states import CallStatus, CampaignStatus, Speaker, TaskActor, TaskStatus
from database.types import utcnow
from task_manager.campaign_summary import build_summary

CAMPAIGN = "Sample: a plumber for the kitchen sink"


@dataclass(frozen=True)
class SampleCall:
    contact: str
    number: str
    status: TaskStatus
    outcome: str
    summary: str
    reason: str
    turns: tuple[tuple[Speaker, str], ...]
    result: tuple[tuple[str, str], ...] = ()


A, C = Speaker.AGENT, Speaker.CALLEE
SAMPLES = (
    SampleCall(
        "Quick Fix Plumbing (sample)", "+442079460111", TaskStatus.SUCCEEDED, "success",
        "Booked a visit for Thursday between 8 and 10 am; call-out fee 60 pounds.",
        "A visit was booked.",
        ((C, "Quick Fix Plumbing, how can I help?"),
         (A, "Hello, I'm an AI assistant calling for a customer with a leaking kitchen sink. "
             "Could someone come this week?"),
         (C, "We can come Thursday between 8 and 10. The call-out fee is 60 pounds."),
         (A, "That works, please book it. Thank you!")),
        (("visit", "Thursday 8-10 am"), ("call-out fee", "60 pounds")),
    ),
    SampleCall(
        "Drain Masters (sample)", "+442079460112", TaskStatus.FAILED, "failure",
        "They only cover commercial customers.", "They do not take home repairs.",
        ((C, "Drain Masters."),
         (A, "Hello, I'm an AI assistant calling for a customer with a leaking kitchen sink."),
         (C, "Sorry, we only work for businesses."),
         (A, "Understood, thank you. Goodbye.")),
    ),
)  # fmt: skip


async def write_sample_history(s: AsyncSession, user: User) -> int:
    """The finished sample campaign for `user`; returns its id."""
    campaign = await campaigns.create(
        s, user_id=user.id, name=CAMPAIGN, goal="Get a plumber to fix the kitchen sink"
    )
    start = utcnow() - timedelta(days=2)
    rows = []
    for n, sample in enumerate(SAMPLES):
        task = await tasks.create(
            s,
            user_id=user.id,
            campaign_id=campaign.id,
            task=NewTask(
                phone_number=sample.number,
                objective="Book a plumber to fix a leaking kitchen sink this week",
                contact_name=sample.contact,
                max_attempts=1,
            ),
        )
        await _call(s, user, task.id, sample, start + timedelta(minutes=3 * n))
        rows.append(
            await tasks.update_status(
                s,
                user_id=user.id,
                task_id=task.id,
                expected_version=task.version,
                status=sample.status,
                actor=TaskActor.ANALYZER,  # as the analyzer would have decided it
                attempt_count=1,
                last_decision=str(sample.status),
                last_decision_reason=sample.reason,
                result=dict(sample.result) or None,
            )
        )
    summary = build_summary(campaign, [r for r in rows if r is not None])
    await campaigns.update(
        s,
        user_id=user.id,
        campaign_id=campaign.id,
        status=CampaignStatus.COMPLETED,
        summary=summary.text,
        finished_at=start + timedelta(minutes=10),
    )
    return campaign.id


async def _call(
    s: AsyncSession, user: User, task_id: int, sample: SampleCall, at: datetime
) -> None:
    call_id = str(uuid.uuid4())
    await calls.create_dialing(
        s,
        user_id=user.id,
        call_id=call_id,
        phone_number=sample.number,
        task_id=task_id,
        started_at=at,
    )
    for offset, kind in enumerate(("originated", "ringing", "answered")):
        await calls.append_event(
            s, user_id=user.id, call_id=call_id, kind=kind, at=at + timedelta(seconds=offset * 2)
        )
    for offset, (speaker, text) in enumerate(sample.turns):
        said = at + timedelta(seconds=5 + 6 * offset)
        await turns.append(
            s,
            user_id=user.id,
            call_id=call_id,
            speaker=speaker,
            text=text,
            started_at=said,
            ended_at=said + timedelta(seconds=4),
        )
    ended = at + timedelta(seconds=6 + 6 * len(sample.turns))
    await calls.update(
        s,
        user_id=user.id,
        call_id=call_id,
        status=CallStatus.COMPLETED,
        outcome=sample.outcome,
        agent_outcome=sample.outcome,
        summary=sample.summary,
        answered_at=at + timedelta(seconds=4),
        ended_at=ended,
        duration_seconds=(ended - at).total_seconds() - 4,
        end_reason="local_hangup",
        ended_by="agent",
        answered_by="person",
        facts=dict(sample.result),
    )
    await calls.append_event(s, user_id=user.id, call_id=call_id, kind="hangup", at=ended)
