"""Chats with the planning assistant: always read and written under their owner's user_id."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from database.models.conversations import Conversation
from database.repositories.base import apply_changes

UPDATABLE = frozenset({"title", "messages", "plan", "campaign_id"})


async def create(s: AsyncSession, *, user_id: int, title: str = "") -> Conversation:
    row = Conversation(user_id=user_id, title=title[:200], messages=[], plan=None)
    s.add(row)
    await s.flush()
    return row


async def get(s: AsyncSession, *, user_id: int, conversation_id: int) -> Conversation | None:
    return await s.scalar(
        select(Conversation).where(
            Conversation.id == conversation_id, Conversation.user_id == user_id
        )
    )


async def list_for_user(
    s: AsyncSession, *, user_id: int, limit: int = 50, offset: int = 0
) -> list[Conversation]:
    query = select(Conversation).where(Conversation.user_id == user_id)
    return list(await s.scalars(query.order_by(Conversation.id.desc()).offset(offset).limit(limit)))


async def update(
    s: AsyncSession, *, user_id: int, conversation_id: int, **changes: Any
) -> Conversation | None:
    """Lists and dicts are replaced whole (a new object), so the JSON column sees the change."""
    row = await get(s, user_id=user_id, conversation_id=conversation_id)
    if row is None:
        return None
    apply_changes(row, changes, UPDATABLE)
    await s.flush()
    return row
