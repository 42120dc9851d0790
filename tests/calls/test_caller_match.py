"""Where an inbound caller goes: their task (one person's, the latest call), the one owner
who asked for unknown callers, or nobody. On a fresh SQLite database per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from call_processor.caller_match import CallBack, Forward, Route, Unknown, route_caller
from database import migrate
from database.engine import create_engine_for, session_factory
from database.models import User
from database.profile import Profile
from database.repositories import calls, campaigns, tasks, users
from database.types import utcnow

Sessions = async_sessionmaker[AsyncSession]
THEM = "+14155550123"


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[Sessions]:
    await migrate.upgrade(None, tmp_path)
    engine = create_engine_for(None, tmp_path)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


async def person(sessions: Sessions, phone: str | None = None, forwards: bool = False) -> User:
    async with sessions() as s, s.begin():
        return await users.create(
            s, email=f"{uuid.uuid4().hex}@example.org", password_hash="x", display_name="P",
            phone_number=phone, profile=Profile(forward_unknown_callers=forwards),
        )  # fmt: skip


async def called(sessions: Sessions, user: User, minutes_ago: float, **task: object) -> int:
    async with sessions() as s, s.begin():
        campaign = await campaigns.create(s, user_id=user.id, name="c", goal="a quote")
        new = tasks.NewTask(phone_number=THEM, objective=f"objective of {user.id}", **task)  # type: ignore[arg-type]  # NewTask's own fields
        row = await tasks.create(s, user_id=user.id, task=new, campaign_id=campaign.id)
        row.attempt_count = 2
        await calls.create_dialing(
            s, user_id=user.id, call_id=str(uuid.uuid4()), phone_number=THEM, task_id=row.id,
            started_at=utcnow() - timedelta(minutes=minutes_ago),
        )  # fmt: skip
        return row.id


async def route(sessions: Sessions, caller: str) -> Route:
    return await route_caller(sessions, caller, region="US", since=utcnow() - timedelta(days=14))


async def test_a_call_back_gets_the_latest_callers_task_and_only_that(sessions: Sessions) -> None:
    alice, bob = await person(sessions), await person(sessions)
    await called(sessions, alice, minutes_ago=60)
    bobs = await called(sessions, bob, minutes_ago=5, contact_name="Sam",
                        inter_call_context={"history": [{"reason": "voicemail"}]})  # fmt: skip
    found = await route(sessions, "4155550123")  # delivered without +1: normalised
    assert isinstance(found, CallBack)
    request = found.request
    assert (request.user_id, request.task_id, request.attempt_number) == (bob.id, bobs, 2)
    assert request.phone_number == THEM
    assert dict(request.context) == {
        "direction": "inbound", "objective": f"objective of {bob.id}", "contact_name": "Sam",
        "context": "", "success_criteria": "", "campaign_goal": "a quote",
        "attempt_number": 2, "max_attempts": 3,
        "inter_call_context": {"history": [{"reason": "voicemail"}]},
    }  # fmt: skip


async def test_an_unknown_caller_goes_to_the_one_owner_who_asked(sessions: Sessions) -> None:
    assert isinstance(await route(sessions, THEM), Unknown)
    owner = await person(sessions, phone="+14155550999", forwards=True)
    await person(sessions, phone="+14155550998")  # has a phone, did not ask
    await person(sessions, forwards=True)  # asked, but has no phone to ring
    assert await route(sessions, THEM) == Forward(owner.id, "+14155550999", THEM)
    assert isinstance(await route(sessions, ""), Unknown)  # withheld: nothing to store it as


async def test_with_two_owners_nobody_can_tell_whose_caller_it_is(sessions: Sessions) -> None:
    await person(sessions, phone="+14155550999", forwards=True)
    await person(sessions, phone="+14155550998", forwards=True)
    assert isinstance(await route(sessions, THEM), Unknown)
