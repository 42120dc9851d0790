"""Outgoing SMS and email: recorded before sending, marked sent or failed after."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from database.models import Message
from database.states import MessageChannel, MessageStatus
from database.types import utcnow


async def record(
    s: AsyncSession,
    *,
    user_id: int,
    channel: MessageChannel,
    to_address: str,
    body: str,
    subject: str | None = None,
) -> Message:
    message = Message(
        user_id=user_id,
        channel=channel,
        to_address=to_address,
        subject=subject,
        body=body,
        status=MessageStatus.PENDING,
    )
    s.add(message)
    await s.flush()
    return message


async def get(s: AsyncSession, *, user_id: int, message_id: int) -> Message | None:
    return await s.scalar(
        select(Message).where(Message.id == message_id, Message.user_id == user_id)
    )


async def mark_sent(
    s: AsyncSession,
    *,
    user_id: int,
    message_id: int,
    provider_id: str | None,
    sent_at: datetime | None = None,
) -> Message | None:
    message = await get(s, user_id=user_id, message_id=message_id)
    if message is None:
        return None
    message.status = MessageStatus.SENT
    message.provider_id = provider_id
    message.sent_at = sent_at or utcnow()
    message.error = None
    await s.flush()
    return message


async def mark_failed(
    s: AsyncSession, *, user_id: int, message_id: int, error: str
) -> Message | None:
    message = await get(s, user_id=user_id, message_id=message_id)
    if message is None:
        return None
    message.status = MessageStatus.FAILED
    message.error = error
    await s.flush()
    return message


async def list_for_user(
    s: AsyncSession, *, user_id: int, limit: int = 100, offset: int = 0
) -> list[Message]:
    query = select(Message).where(Message.user_id == user_id)
    query = query.order_by(Message.created_at.desc(), Message.id.desc())
    return list(await s.scalars(query.offset(offset).limit(limit)))


async def count_since(s: AsyncSession, *, user_id: int, since: datetime) -> int:
    query = select(func.count()).select_from(Message)
    query = query.where(Message.user_id == user_id, Message.created_at > since)
    return int(await s.scalar(query) or 0)
