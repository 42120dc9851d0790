"""The person's number and its code, on SQLite and PostgreSQL: a new number is unverified
whoever sets it, wrong tries are counted exactly even when guessed in parallel, a code
verifies only the number it was sent to, and revision 0009 keeps every row both ways."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy import JSON, column, select, table

from database import migrate
from database.engine import create_engine_for
from database.repositories import calls, phone_codes, tasks, users
from database.types import utcnow
from tests.database.conftest import Backend, make_user
from tests.task_manager.helpers import Sessions

NUMBER, OTHER = "+14155550123", "+14155550124"


async def test_a_new_number_is_unverified_whoever_sets_it(sessions: Sessions) -> None:
    user = await make_user(sessions)
    async with sessions() as s, s.begin():
        await users.update(s, user.id, phone_number=NUMBER)
        assert await phone_codes.mark_verified(s, user_id=user.id, phone_number=NUMBER, at=utcnow())
    async with sessions() as s, s.begin():
        same = await users.update(s, user.id, phone_number=NUMBER, display_name="Ann")
        assert same is not None
        assert same.phone_verified_at is not None  # the same number stays verified
        moved = await users.update(s, user.id, phone_number=OTHER)
        assert moved is not None
        assert moved.phone_verified_at is None
    async with sessions() as s, s.begin():
        stale = await phone_codes.mark_verified(
            s, user_id=user.id, phone_number=NUMBER, at=utcnow()
        )
        row = await users.get(s, user.id)
    assert stale is False  # a code for the old number verifies nothing
    assert row is not None
    assert row.phone_verified_at is None


async def test_parallel_wrong_tries_never_pass_the_limit(sessions: Sessions) -> None:
    user = await make_user(sessions)
    async with sessions() as s, s.begin():
        await phone_codes.replace(s, user_id=user.id, phone_number=NUMBER, code_hash="h" * 64,
                                  now=utcnow(), lifetime=timedelta(minutes=10))  # fmt: skip

    async def guess() -> int | None:
        async with sessions() as s, s.begin():
            return await phone_codes.count_try(s, user_id=user.id, code_hash="h" * 64, limit=5)

    counted = await asyncio.gather(*(guess() for _ in range(12)))
    assert sorted(c for c in counted if c is not None) == [1, 2, 3, 4, 5]
    assert counted.count(None) == 7
    async with sessions() as s, s.begin():
        row = await phone_codes.replace(s, user_id=user.id, phone_number=NUMBER,
                                        code_hash="n" * 64, now=utcnow(),
                                        lifetime=timedelta(minutes=10))  # fmt: skip
        assert (row.failed_tries, row.sent_in_window) == (0, 2)  # a new code, counted on
        old = await phone_codes.count_try(s, user_id=user.id, code_hash="h" * 64, limit=5)
    assert old is None  # a replaced code takes no more tries


async def test_verification_calls_are_found_only_among_the_persons_own(sessions: Sessions) -> None:
    owner, other = await make_user(sessions), await make_user(sessions)
    async with sessions() as s, s.begin():
        marked = tasks.NewTask(phone_number=NUMBER, objective="read the code",
                               inter_call_context={phone_codes.VERIFICATION_KEY: True})  # fmt: skip
        plain = tasks.NewTask(phone_number=NUMBER, objective="book")
        reading = await tasks.create(s, user_id=owner.id, task=marked)
        booking = await tasks.create(s, user_id=owner.id, task=plain)
        ids = {}
        for name, task in (("reading", reading), ("booking", booking)):
            ids[name] = str(uuid.uuid4())
            await calls.create_dialing(s, user_id=owner.id, call_id=ids[name],
                                       phone_number=NUMBER, task_id=task.id)  # fmt: skip
    async with sessions() as s:
        mine = await phone_codes.verification_calls(s, user_id=owner.id, call_ids=set(ids.values()))
        theirs = await phone_codes.verification_calls(
            s, user_id=other.id, call_ids=set(ids.values())
        )
    assert (mine, theirs) == ({ids["reading"]}, set())


async def test_revision_0012_keeps_every_row_up_and_down(empty_backend: Backend) -> None:
    """Downgrading must not rebuild `users` on SQLite: with foreign keys on, dropping the
    old table would delete every row that belongs to a user."""
    url, data_dir = empty_backend.url, empty_backend.data_dir
    await migrate.upgrade(url, data_dir, "0011")
    people = table("users", column("id"), column("email"), column("password_hash"),
                   column("display_name"), column("time_zone"), column("profile", JSON),
                   column("created_at"), column("phone_number"))  # fmt: skip
    tokens = table("access_tokens", column("id"), column("user_id"), column("kind"),
                   column("name"), column("token_hash"), column("created_at"),
                   column("scopes"))  # fmt: skip
    engine = create_engine_for(url, data_dir)
    now = utcnow().replace(tzinfo=None)
    try:
        async with engine.begin() as conn:
            await conn.execute(people.insert().values(
                id=1, email="old@example.com", password_hash="x", display_name="", time_zone="UTC",
                profile={}, created_at=now, phone_number=NUMBER,
            ))  # fmt: skip
            await conn.execute(tokens.insert().values(
                id=1, user_id=1, kind="session", name="", token_hash="1" * 64, created_at=now,
                scopes="",
            ))  # fmt: skip
        await migrate.upgrade(url, data_dir)
        verified_at = table("users", column("phone_verified_at"))
        async with engine.connect() as conn:
            assert (await conn.execute(select(verified_at.c.phone_verified_at))).all() == [(None,)]
        await migrate.downgrade(url, data_dir, "0011")
        async with engine.connect() as conn:
            left = (await conn.execute(select(people.c.phone_number))).all()
            kept = (await conn.execute(select(tokens.c.id))).all()
    finally:
        await engine.dispose()
    assert (left, kept) == ([(NUMBER,)], [(1,)])
