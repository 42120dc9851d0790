"""Questions the agent asks the person during a call; answered once, from the browser.

Whoever closes a question (answered, or expired by the call's tool, the lifecycle sweep or
the closing of a dead call) queues `FeedbackClosed` for after the commit
(`announce_after_commit`): every open page of the person then takes it away, and a page
is never told of a close that rolled back.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Update, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from common.events import FeedbackClosed
from database.engine import announce_after_commit
from database.models import FeedbackRequest
from database.repositories import webhook_outbox
from database.repositories.base import affected
from database.states import FeedbackStatus
from database.types import utcnow


async def create(
    s: AsyncSession,
    *,
    user_id: int,
    question: str,
    call_id: str | None = None,
    task_id: int | None = None,
    context: str = "",
    expires_at: datetime | None = None,
) -> FeedbackRequest:
    request = FeedbackRequest(
        user_id=user_id,
        call_id=call_id,
        task_id=task_id,
        question=question,
        context=context,
        expires_at=expires_at,
        status=FeedbackStatus.OPEN,
    )
    s.add(request)
    await s.flush()
    await webhook_outbox.feedback_requested(s, request)
    return request


async def get(s: AsyncSession, *, user_id: int, request_id: int) -> FeedbackRequest | None:
    return await s.scalar(
        select(FeedbackRequest).where(
            FeedbackRequest.id == request_id, FeedbackRequest.user_id == user_id
        )
    )


async def answer(
    s: AsyncSession, *, user_id: int, request_id: int, answer: str, now: datetime | None = None
) -> FeedbackRequest | None:
    """The answered row, or None when it is not this user's, not open, or past its expiry.

    One conditional UPDATE, so two browser tabs answering at once cannot both win.
    """
    now = now or utcnow()
    touched = await affected(
        s,
        update(FeedbackRequest)
        .where(
            FeedbackRequest.id == request_id,
            FeedbackRequest.user_id == user_id,
            FeedbackRequest.status == FeedbackStatus.OPEN,
            _not_past(now),
        )
        .values(status=FeedbackStatus.ANSWERED, answer=answer, answered_at=now)
        .execution_options(synchronize_session=False),
    )
    if touched != 1:
        return None
    announce_after_commit(s, user_id, FeedbackClosed(request_id=request_id, status="answered"))
    request = await get(s, user_id=user_id, request_id=request_id)
    if request is not None:
        await s.refresh(request)
    return request


def _open(user_id: int) -> list[ColumnElement[bool]]:
    return [FeedbackRequest.user_id == user_id, FeedbackRequest.status == FeedbackStatus.OPEN]


def _not_past(now: datetime) -> ColumnElement[bool]:
    return or_(FeedbackRequest.expires_at.is_(None), FeedbackRequest.expires_at > now)


async def list_open(
    s: AsyncSession,
    *,
    user_id: int,
    call_id: str | None = None,
    limit: int | None = None,
    offset: int = 0,
    newest_first: bool = False,
    answerable_at: datetime | None = None,
) -> list[FeedbackRequest]:
    """`answerable_at`: only those an answer could still close then (not yet past their
    expiry, which the lifecycle sweep marks a little later)."""
    query = select(FeedbackRequest).where(*_open(user_id))
    if answerable_at is not None:
        query = query.where(_not_past(answerable_at))
    if call_id is not None:
        query = query.where(FeedbackRequest.call_id == call_id)
    if newest_first:
        query = query.order_by(FeedbackRequest.created_at.desc(), FeedbackRequest.id.desc())
    else:
        query = query.order_by(FeedbackRequest.created_at, FeedbackRequest.id)
    return list(await s.scalars(query.offset(offset).limit(limit)))


async def count_open(s: AsyncSession, *, user_id: int) -> int:
    query = select(func.count()).select_from(FeedbackRequest).where(*_open(user_id))
    return int(await s.scalar(query) or 0)


async def _expire(s: AsyncSession, *where: ColumnElement[bool]) -> int:
    """Open questions matching `where` become expired; each is announced as closed."""
    query: Update = (
        update(FeedbackRequest)
        .where(FeedbackRequest.status == FeedbackStatus.OPEN, *where)
        .values(status=FeedbackStatus.EXPIRED)
        .returning(FeedbackRequest.id, FeedbackRequest.user_id)
        .execution_options(synchronize_session=False)
    )
    closed: Sequence[tuple[int, int]] = [(r.id, r.user_id) for r in await s.execute(query)]
    for request_id, user_id in closed:
        announce_after_commit(s, user_id, FeedbackClosed(request_id=request_id, status="expired"))
    return len(closed)


async def expire_due(s: AsyncSession, *, now: datetime) -> int:
    """Lifecycle sweep across users: open requests past expires_at become expired."""
    return await _expire(
        s, FeedbackRequest.expires_at.is_not(None), FeedbackRequest.expires_at <= now
    )


async def expire(s: AsyncSession, *, user_id: int, request_id: int) -> bool:
    """The call stopped waiting for this answer (its time ran out, or the call ended):
    True when it was still open, so an answer can no longer close it."""
    closed = await _expire(s, FeedbackRequest.id == request_id, FeedbackRequest.user_id == user_id)
    return closed == 1


async def expire_for_call(s: AsyncSession, *, user_id: int, call_id: str) -> int:
    """The open questions of a call that is over: nobody is waiting for their answer."""
    return await _expire(s, FeedbackRequest.user_id == user_id, FeedbackRequest.call_id == call_id)
