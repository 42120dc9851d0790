"""Idempotency keys on SQLite and PostgreSQL: one holder per (user, key), the answer
kept, keys of other users apart, expired keys deleted and usable again, a failed request's
key released; copies racing for one key: exactly one wins."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from database.models import IdempotencyKey
from database.repositories import idempotency
from database.types import utcnow
from tests.database.conftest import make_user

DAY = timedelta(hours=24)


async def _reserve(
    sessions: async_sessionmaker[AsyncSession], user_id: int, key: str, print_: str = "f1",
    hours_ago: float = 0,
) -> IdempotencyKey | None:  # fmt: skip
    async with sessions() as s, s.begin():
        now = utcnow() + timedelta(hours=hours_ago) if hours_ago else utcnow()
        return await idempotency.reserve(
            s, user_id=user_id, key=key, fingerprint=print_, now=now, keep=DAY
        )


async def test_a_key_is_held_once_per_user_with_its_answer(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    one, two = await make_user(sessions, "one"), await make_user(sessions, "two")
    assert await _reserve(sessions, one.id, "k") is None
    held = await _reserve(sessions, one.id, "k", "f2")
    assert held is not None
    assert (held.fingerprint, held.status_code) == ("f1", None)  # still being answered
    assert await _reserve(sessions, two.id, "k") is None  # another person's own key
    async with sessions() as s, s.begin():
        await idempotency.keep_answer(s, user_id=one.id, key="k", status_code=201,
                                      body={"campaign_id": 7, "task_ids": [1, 2]})  # fmt: skip
    held = await _reserve(sessions, one.id, "k")
    assert held is not None
    assert (held.status_code, held.body) == (201, {"campaign_id": 7, "task_ids": [1, 2]})
    async with sessions() as s, s.begin():
        await idempotency.release(s, user_id=two.id, key="k")
    assert await _reserve(sessions, two.id, "k") is None  # released: usable again


async def test_keys_older_than_a_day_or_abandoned_unanswered_are_deleted(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    user = await make_user(sessions)
    assert await _reserve(sessions, user.id, "old", hours_ago=-25) is None
    assert await _reserve(sessions, user.id, "young", hours_ago=-23) is None
    async with sessions() as s, s.begin():
        await idempotency.keep_answer(s, user_id=user.id, key="young", status_code=201, body={})
    assert await _reserve(sessions, user.id, "old", "new") is None  # expired: deleted first
    async with sessions() as s:
        young = await idempotency.get(s, user_id=user.id, key="young")
        old = await idempotency.get(s, user_id=user.id, key="old")
    assert young is not None
    assert old is not None
    assert old.fingerprint == "new"
    assert await _reserve(sessions, user.id, "running", hours_ago=-0.1) is None
    assert await _reserve(sessions, user.id, "died", hours_ago=-0.2) is None
    assert await _reserve(sessions, user.id, "died", "again") is None  # never answered: dropped
    held = await _reserve(sessions, user.id, "running")
    assert held is not None  # 6 minutes: still running
    answered = await _reserve(sessions, user.id, "young")
    assert answered is not None  # answered 23 hours ago: kept


async def test_copies_racing_for_one_key_leave_exactly_one_holder(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    user = await make_user(sessions)
    results = await asyncio.gather(*(_reserve(sessions, user.id, "race") for _ in range(6)))
    assert sum(r is None for r in results) == 1
    assert all(r.key == "race" for r in results if r is not None)
