"""Do-not-call: the user's own list plus the operator's global list (user_id None)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from database.models import DndEntry
from database.repositories.base import affected, check_e164


def _scope(user_id: int | None) -> ColumnElement[bool]:
    return DndEntry.user_id.is_(None) if user_id is None else DndEntry.user_id == user_id


async def add(
    s: AsyncSession, *, user_id: int | None, phone_number: str, reason: str = ""
) -> DndEntry:
    """Idempotent. user_id None adds to the global list (SQL unique treats NULLs as distinct,
    so the existence check here is what keeps global entries single)."""
    number = check_e164(phone_number)
    existing = await s.scalar(
        select(DndEntry).where(_scope(user_id), DndEntry.phone_number == number)
    )
    if existing is not None:
        return existing
    entry = DndEntry(user_id=user_id, phone_number=number, reason=reason)
    s.add(entry)
    await s.flush()
    return entry


async def is_blocked(s: AsyncSession, *, user_id: int, phone_number: str) -> bool:
    """True when the number is on this user's list or on the global list."""
    query = select(DndEntry.id).where(
        DndEntry.phone_number == phone_number,
        or_(DndEntry.user_id == user_id, DndEntry.user_id.is_(None)),
    )
    return await s.scalar(query.limit(1)) is not None


async def is_listed(s: AsyncSession, *, user_id: int, phone_number: str) -> bool:
    """True when the number is on this user's own list (the global list aside)."""
    query = select(DndEntry.id).where(
        DndEntry.phone_number == phone_number, DndEntry.user_id == user_id
    )
    return await s.scalar(query.limit(1)) is not None


async def remove(s: AsyncSession, *, user_id: int | None, phone_number: str) -> bool:
    touched = await affected(
        s, delete(DndEntry).where(_scope(user_id), DndEntry.phone_number == phone_number)
    )
    return bool(touched)


async def list_for_user(
    s: AsyncSession, *, user_id: int | None, limit: int | None = None, offset: int = 0
) -> list[DndEntry]:
    """The user's own entries (user_id None: the global list)."""
    query = select(DndEntry).where(_scope(user_id)).order_by(DndEntry.phone_number, DndEntry.id)
    return list(await s.scalars(query.offset(offset).limit(limit)))


async def get(s: AsyncSession, *, user_id: int, entry_id: int) -> DndEntry | None:
    return await s.scalar(select(DndEntry).where(_scope(user_id), DndEntry.id == entry_id))
