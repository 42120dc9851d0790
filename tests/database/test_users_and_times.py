"""Users (unique email, pre-hashed password) and aware UTC datetimes on both backends."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from database.errors import AlreadyExists
from database.profile import Profile
from database.repositories import calls, users
from tests.database.conftest import make_user

Sessions = async_sessionmaker[AsyncSession]
OFFSETS = st.builds(
    timezone,
    st.timedeltas(
        min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23, minutes=59)
    ),
)
INSTANTS = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=OFFSETS
)


async def test_users_by_email_ignore_case_and_refuse_duplicates(sessions: Sessions) -> None:
    email = f"Person-{uuid.uuid4().hex}@Example.org"
    async with sessions() as s, s.begin():
        user = await users.create(
            s,
            email=email,
            password_hash="argon2$...",
            display_name="P",
            phone_number="+15550001111",
            time_zone="Europe/Berlin",
            profile=Profile(facts={"diet": "vegetarian"}, never_share=("ssn",)),
        )
        with pytest.raises(AlreadyExists):
            await users.create(s, email=email.upper(), password_hash="y")
        # The savepoint kept this transaction usable after the refused insert.
        other = await users.create(s, email=f"other-{email}", password_hash="z")
    async with sessions() as s, s.begin():
        found = await users.get_by_email(s, email.lower())
        assert await users.get(s, other.id) is not None
    assert found is not None
    assert found.id == user.id
    assert found.email == email.lower()
    assert found.profile == Profile(facts={"diet": "vegetarian"}, never_share=("ssn",))
    assert found.created_at.tzinfo is UTC


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(at=INSTANTS)
async def test_aware_datetimes_round_trip_as_utc(sessions: Sessions, at: datetime) -> None:
    user = await make_user(sessions)
    call_id = str(uuid.uuid4())
    async with sessions() as s, s.begin():
        await calls.create_dialing(
            s, user_id=user.id, call_id=call_id, phone_number="+15550001111", started_at=at
        )
    async with sessions() as s, s.begin():
        stored = await calls.get(s, user_id=user.id, call_id=call_id)
    assert stored is not None
    assert stored.started_at == at
    assert stored.started_at.tzinfo is UTC


async def test_naive_datetimes_are_refused(sessions: Sessions) -> None:
    user = await make_user(sessions)

    async def store_naive() -> None:
        async with sessions() as s, s.begin():
            await calls.create_dialing(
                s, user_id=user.id, call_id=str(uuid.uuid4()), phone_number="+15550001111",
                started_at=datetime(2030, 1, 1, 12, 0),
            )  # fmt: skip

    with pytest.raises(StatementError, match="naive datetime"):
        await store_naive()
