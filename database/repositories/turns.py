"""Call turns: appended as they happen, numbered per call, readable while the call runs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from database.models import Call, CallTurn
from database.states import Speaker
from database.types import utcnow


async def append(
    s: AsyncSession,
    *,
    user_id: int,
    call_id: str,
    speaker: Speaker,
    text: str,
    started_at: datetime | None = None,
    ended_at: datetime | None = None,
    cut_at_ms: int | None = None,
) -> CallTurn | None:
    """Next seq for the call; None when the call is not this user's.

    Locking the call row makes concurrent appends (agent and callee transcripts arrive
    from different asyncio tasks) take turns instead of colliding on (call_id, seq).
    """
    owned = select(Call.id).where(Call.id == call_id, Call.user_id == user_id).with_for_update()
    if await s.scalar(owned) is None:
        return None
    last = await s.scalar(select(func.max(CallTurn.seq)).where(CallTurn.call_id == call_id))
    turn = CallTurn(
        call_id=call_id,
        user_id=user_id,
        seq=(last or 0) + 1,
        speaker=speaker,
        text=text,
        started_at=started_at or utcnow(),
        ended_at=ended_at,
        cut_at_ms=cut_at_ms,
    )
    s.add(turn)
    await s.flush()
    return turn


async def list_for_call(
    s: AsyncSession, *, user_id: int, call_id: str, after_seq: int = 0
) -> list[CallTurn]:
    """after_seq lets a live view fetch only what is new since its last poll."""
    query = select(CallTurn).where(
        CallTurn.call_id == call_id, CallTurn.user_id == user_id, CallTurn.seq > after_seq
    )
    return list(await s.scalars(query.order_by(CallTurn.seq)))
