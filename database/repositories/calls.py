"""Calls (one row per attempt) and their events. Written by the call's handler only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from database.errors import NotFound
from database.models import Call, CallEvent, Task
from database.repositories.base import apply_changes, check_e164
from database.types import utcnow

UPDATABLE = frozenset(
    {"status", "answered_at", "ended_at", "duration_seconds", "hangup_cause",
     "hangup_cause_text", "outcome", "channel", "amd_status", "facts", "latency_ms",
     "summary", "node_id", "end_reason", "ended_by", "agent_outcome", "transferred",
     "agent_audio_generated_ms", "agent_audio_played_ms", "answered_by", "message_left",
     "hold_seconds"}
)  # fmt: skip


async def create_dialing(
    s: AsyncSession,
    *,
    user_id: int,
    call_id: str,
    phone_number: str,
    task_id: int | None = None,
    attempt_number: int = 1,
    node_id: str | None = None,
    started_at: datetime | None = None,
) -> Call:
    """The row exists before Originate, so every later event has somewhere to go."""
    if task_id is not None:
        owner = await s.scalar(select(Task.user_id).where(Task.id == task_id))
        if owner != user_id:
            raise NotFound("task not found")
    call = Call(
        id=call_id,
        user_id=user_id,
        task_id=task_id,
        attempt_number=attempt_number,
        phone_number=check_e164(phone_number),
        node_id=node_id,
        started_at=started_at or utcnow(),
        facts={},
        latency_ms=[],
    )
    s.add(call)
    await s.flush()
    return call


async def get(s: AsyncSession, *, user_id: int, call_id: str) -> Call | None:
    return await s.scalar(select(Call).where(Call.id == call_id, Call.user_id == user_id))


async def list_for_task(s: AsyncSession, *, user_id: int, task_id: int) -> list[Call]:
    query = select(Call).where(Call.user_id == user_id, Call.task_id == task_id)
    return list(await s.scalars(query.order_by(Call.attempt_number, Call.started_at)))


async def list_for_user(s: AsyncSession, *, user_id: int, limit: int = 50) -> list[Call]:
    query = select(Call).where(Call.user_id == user_id)
    return list(await s.scalars(query.order_by(Call.started_at.desc()).limit(limit)))


async def update(s: AsyncSession, *, user_id: int, call_id: str, **changes: Any) -> Call | None:
    """Set any of UPDATABLE; JSON fields (facts, latency_ms) are replaced whole."""
    call = await get(s, user_id=user_id, call_id=call_id)
    if call is None:
        return None
    apply_changes(call, changes, UPDATABLE)
    await s.flush()
    return call


async def append_event(
    s: AsyncSession,
    *,
    user_id: int,
    call_id: str,
    kind: str,
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> CallEvent | None:
    """None when the call is not this user's."""
    if await get(s, user_id=user_id, call_id=call_id) is None:
        return None
    event = CallEvent(
        call_id=call_id, user_id=user_id, kind=kind, data=data or {}, at=at or utcnow()
    )
    s.add(event)
    await s.flush()
    return event


async def list_events(s: AsyncSession, *, user_id: int, call_id: str) -> list[CallEvent]:
    query = select(CallEvent).where(CallEvent.call_id == call_id, CallEvent.user_id == user_id)
    return list(await s.scalars(query.order_by(CallEvent.at, CallEvent.id)))
