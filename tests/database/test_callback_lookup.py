"""The two lookups an inbound call makes across users: the latest call of a task to the
caller's number (calls.latest_task_call_to) and who forwards unknown callers
(users.forwarding_unknown_callers). Each test uses numbers of its own."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from database.models import Call, User
from database.profile import Profile
from database.repositories import calls, tasks, users
from database.states import CallDirection
from tests.database.conftest import make_user

Sessions = async_sessionmaker[AsyncSession]
NOW = datetime(2030, 5, 15, 12, 0, tzinfo=UTC)
SINCE = NOW - timedelta(days=14)


def number() -> str:
    return "+1415" + str(secrets.randbelow(10**7)).rjust(7, "0")


async def placed(
    sessions: Sessions,
    user: User,
    phone_number: str,
    started_at: datetime,
    *,
    with_task: bool = True,
    direction: CallDirection = CallDirection.OUTBOUND,
) -> Call:
    async with sessions() as s, s.begin():
        task_id = None
        if with_task:
            new = tasks.NewTask(phone_number=phone_number, objective=f"task of {user.id}")
            task_id = (await tasks.create(s, user_id=user.id, task=new)).id
        return await calls.create_dialing(
            s, user_id=user.id, call_id=str(uuid.uuid4()), phone_number=phone_number,
            task_id=task_id, started_at=started_at, direction=direction,
        )  # fmt: skip


async def latest(sessions: Sessions, *numbers: str) -> Call | None:
    async with sessions() as s:
        return await calls.latest_task_call_to(s, phone_numbers=numbers, since=SINCE)


async def test_the_most_recent_call_to_the_number_wins_whoever_placed_it(
    sessions: Sessions,
) -> None:
    alice, bob = await make_user(sessions, "alice"), await make_user(sessions, "bob")
    them = number()
    await placed(sessions, alice, them, NOW - timedelta(days=3))
    newest = await placed(sessions, bob, them, NOW - timedelta(hours=2))
    await placed(sessions, alice, them, NOW - timedelta(days=1))
    await placed(sessions, alice, number(), NOW - timedelta(minutes=5))  # someone else
    found = await latest(sessions, them)
    assert found is not None
    assert (found.id, found.user_id, found.task_id) == (newest.id, bob.id, newest.task_id)


async def test_only_calls_of_a_task_we_placed_within_the_window_count(sessions: Sessions) -> None:
    alice = await make_user(sessions, "alice")
    them = number()
    assert await latest(sessions, them) is None
    await placed(sessions, alice, them, SINCE - timedelta(minutes=1))  # too long ago
    await placed(sessions, alice, them, NOW, with_task=False)  # a test call, no task
    await placed(sessions, alice, them, NOW, direction=CallDirection.INBOUND)  # they called
    assert await latest(sessions, them) is None
    in_window = await placed(sessions, alice, them, SINCE + timedelta(minutes=1))
    found = await latest(sessions, them)
    assert found is not None
    assert found.id == in_window.id
    assert found.direction is CallDirection.OUTBOUND


async def test_any_of_the_caller_number_spellings_matches(sessions: Sessions) -> None:
    alice = await make_user(sessions, "alice")
    dialled, normalised = number(), number()
    call = await placed(sessions, alice, dialled, NOW)
    found = await latest(sessions, normalised, dialled)
    assert found is not None
    assert found.id == call.id
    assert await latest(sessions) is None  # no number at all (a withheld caller id)


async def test_a_new_call_row_is_outbound_unless_told(sessions: Sessions) -> None:
    alice = await make_user(sessions, "alice")
    outbound = await placed(sessions, alice, number(), NOW)
    inbound = await placed(sessions, alice, number(), NOW, direction=CallDirection.INBOUND)
    async with sessions() as s:
        rows = [await calls.get(s, user_id=alice.id, call_id=c.id) for c in (outbound, inbound)]
    assert [r.direction if r else None for r in rows] == ["outbound", "inbound"]


async def test_who_forwards_unknown_callers(sessions: Sessions) -> None:
    forwards = Profile(forward_unknown_callers=True)
    async with sessions() as s, s.begin():
        before = {u.id for u in await users.forwarding_unknown_callers(s)}
        made = {
            name: await users.create(
                s,
                email=f"{name}-{uuid.uuid4().hex}@example.org",
                password_hash="x",
                phone_number=phone,
                profile=profile,
            )
            for name, phone, profile in [
                ("opted-in", number(), forwards),
                ("no-phone", None, forwards),
                ("not-asked", number(), Profile()),
            ]
        }
    async with sessions() as s:
        after = {u.id for u in await users.forwarding_unknown_callers(s)}
    assert after - before == {made["opted-in"].id}
