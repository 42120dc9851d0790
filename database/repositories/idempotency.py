"""Idempotency keys: reserve one before a request runs, keep its answer, forget failures.

The reservation is an INSERT under a unique (user_id, key): of two copies of a request
sent at once exactly one inserts, the other reads the row it lost to. Keys older than the
caller's `keep` are deleted (for that user) when a key is next reserved, so a key can be
used again after a day and the table holds about a day of each user's POSTs.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from database.models import IdempotencyKey

# Longer than any request takes (a 5,000-row CSV import: a few seconds).
ABANDONED = timedelta(minutes=10)


async def reserve(
    s: AsyncSession,
    *,
    user_id: int,
    key: str,
    fingerprint: str,
    now: datetime,
    keep: timedelta,
    abandoned: timedelta = ABANDONED,
) -> IdempotencyKey | None:
    """None: the key is now this request's. Else the row already holding it (answered,
    or `status_code` None while its first request is still running). A reservation never
    answered within `abandoned` belonged to a process that died mid-request: it is
    dropped, so the key is not refused for a whole day."""
    expired = IdempotencyKey.created_at < now - keep
    dead = IdempotencyKey.status_code.is_(None) & (IdempotencyKey.created_at < now - abandoned)
    await s.execute(delete(IdempotencyKey).where(IdempotencyKey.user_id == user_id, expired | dead))
    held = await get(s, user_id=user_id, key=key)
    if held is not None:
        return held
    try:
        async with s.begin_nested():
            s.add(IdempotencyKey(user_id=user_id, key=key, fingerprint=fingerprint, created_at=now))
    except IntegrityError:  # another copy inserted it between our read and our write
        return await get(s, user_id=user_id, key=key)
    return None


async def get(s: AsyncSession, *, user_id: int, key: str) -> IdempotencyKey | None:
    return await s.scalar(
        select(IdempotencyKey).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
    )


async def keep_answer(
    s: AsyncSession, *, user_id: int, key: str, status_code: int, body: Any
) -> None:
    await s.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
        .values(status_code=status_code, body=body)
    )


async def release(s: AsyncSession, *, user_id: int, key: str) -> None:
    """The request failed without an answer worth repeating: the key may be tried again."""
    await s.execute(
        delete(IdempotencyKey).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
    )
