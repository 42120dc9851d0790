"""One user's worth of everything the web app shows, written through the repositories."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from database.repositories import calls, campaigns, dnd, feedback, tasks, turns, users
from database.repositories.tasks import NewTask
from database.states import CallStatus, Speaker
from database.types import utcnow


@dataclass(frozen=True)
class Seeded:
    user_id: int
    campaign_id: int
    task_id: int
    call_id: str
    question_id: int
    dnd_id: int


async def seed_user_data(sessions: async_sessionmaker[AsyncSession], email: str) -> Seeded:
    async with sessions() as s, s.begin():
        user = await users.get_by_email(s, email)
        assert user is not None
        campaign = await campaigns.create(s, user_id=user.id, name=f"Dentists for {email}")
        made = await tasks.create_many(
            s,
            user_id=user.id,
            campaign_id=campaign.id,
            tasks=[
                NewTask(phone_number="+14155550101", objective="book a cleaning"),
                NewTask(phone_number="+14155550102", objective="book a cleaning"),
            ],
        )
        call_id = str(uuid.uuid4())
        await calls.create_dialing(
            s, user_id=user.id, call_id=call_id, phone_number="+14155550101", task_id=made[0].id
        )
        await calls.update(
            s,
            user_id=user.id,
            call_id=call_id,
            status=CallStatus.COMPLETED,
            outcome="booked",
            facts={"appointment": "Tuesday 10:00"},
            latency_ms=[420.0, 610.5, 380.0],
        )
        await calls.append_event(s, user_id=user.id, call_id=call_id, kind="answered")
        await turns.append(s, user_id=user.id, call_id=call_id, speaker=Speaker.AGENT, text="Hello")
        await turns.append(
            s, user_id=user.id, call_id=call_id, speaker=Speaker.CALLEE, text="Dental office"
        )
        question = await feedback.create(
            s,
            user_id=user.id,
            call_id=call_id,
            task_id=made[0].id,
            question="Is Tuesday at 10 fine?",
            expires_at=utcnow() + timedelta(minutes=5),
        )
        entry = await dnd.add(s, user_id=user.id, phone_number="+14155550199", reason="asked")
        return Seeded(user.id, campaign.id, made[0].id, call_id, question.id, entry.id)
