"""Calls (one row per attempt) and their events. Written by the call's handler only.

A new row, and a change to answered or to an end, put the call's webhook in the outbox in
the same transaction (webhook_outbox.call_changed)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from database.errors import NotFound
from database.models import Call, CallEvent, CallTurn, Task
from database.repositories import webhook_outbox
from database.repositories.base import apply_changes, check_e164
from database.states import CallDirection, CallStatus
from database.types import utcnow

UPDATABLE = frozenset(
    {"status", "answered_at", "ended_at", "duration_seconds", "hangup_cause",
     "hangup_cause_text", "outcome", "channel", "amd_status", "facts", "latency_ms",
     "summary", "node_id", "end_reason", "ended_by", "agent_outcome", "transferred",
     "agent_audio_generated_ms", "agent_audio_played_ms", "callback_at", "answered_by",
     "message_left", "hold_seconds", "recording_path", "recording_seconds"}
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
    direction: CallDirection = CallDirection.OUTBOUND,
) -> Call:
    """The row exists before Originate (or, for an inbound call, before the agent talks),
    so every later event has somewhere to go."""
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
        direction=direction,
        node_id=node_id,
        started_at=started_at or utcnow(),
        facts={},
        latency_ms=[],
    )
    s.add(call)
    await s.flush()
    await webhook_outbox.call_changed(s, call, None)
    return call


async def get(s: AsyncSession, *, user_id: int, call_id: str) -> Call | None:
    return await s.scalar(select(Call).where(Call.id == call_id, Call.user_id == user_id))


async def latest_task_call_to(
    s: AsyncSession, *, phone_numbers: Collection[str], since: datetime
) -> Call | None:
    """The most recent call of a task we placed to one of these numbers since `since`,
    whoever placed it: who an inbound caller is returning a call to.

    The one lookup across users, and why it is safe: it is keyed by a number a person
    themselves had called, and gives one row; the caller then reads that row's user's data
    and nobody else's (call_processor/callback_match.py).
    """
    if not phone_numbers:
        return None
    query = select(Call).where(
        Call.phone_number.in_(list(phone_numbers)),
        Call.direction == CallDirection.OUTBOUND,
        Call.task_id.is_not(None),
        Call.started_at >= since,
    )
    return await s.scalar(query.order_by(Call.started_at.desc(), Call.id).limit(1))


async def list_for_task(s: AsyncSession, *, user_id: int, task_id: int) -> list[Call]:
    query = select(Call).where(Call.user_id == user_id, Call.task_id == task_id)
    return list(await s.scalars(query.order_by(Call.attempt_number, Call.started_at)))


async def list_for_user(
    s: AsyncSession,
    *,
    user_id: int,
    limit: int = 50,
    offset: int = 0,
    status: CallStatus | None = None,
    since: datetime | None = None,
    task_id: int | None = None,
) -> list[Call]:
    """Newest first; `since`: started at or after it."""
    query = select(Call).where(Call.user_id == user_id)
    if status is not None:
        query = query.where(Call.status == status)
    if since is not None:
        query = query.where(Call.started_at >= since)
    if task_id is not None:
        query = query.where(Call.task_id == task_id)
    query = query.order_by(Call.started_at.desc(), Call.id.desc())
    return list(await s.scalars(query.offset(offset).limit(limit)))


async def update(s: AsyncSession, *, user_id: int, call_id: str, **changes: Any) -> Call | None:
    """Set any of UPDATABLE; JSON fields (facts, latency_ms) are replaced whole."""
    call = await get(s, user_id=user_id, call_id=call_id)
    if call is None:
        return None
    before = str(call.status)
    apply_changes(call, changes, UPDATABLE)
    await s.flush()
    await webhook_outbox.call_changed(s, call, before)
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


async def started_since(s: AsyncSession, *, user_id: int, since: datetime) -> list[datetime]:
    """When this user's calls started since then, oldest first (per-user daily limits)."""
    query = (
        select(Call.started_at)
        .where(Call.user_id == user_id, Call.started_at >= since)
        .order_by(Call.started_at)
    )
    return list(await s.scalars(query))


async def last_known_moment(s: AsyncSession, *, user_id: int, call_id: str) -> datetime | None:
    """The latest time anything was recorded of this call: an event or a turn's end."""
    event = await s.scalar(
        select(func.max(CallEvent.at)).where(
            CallEvent.call_id == call_id, CallEvent.user_id == user_id
        )
    )
    turn = await s.scalar(
        select(func.max(CallTurn.ended_at)).where(
            CallTurn.call_id == call_id, CallTurn.user_id == user_id
        )
    )
    known = [moment for moment in (event, turn) if moment is not None]
    return max(known) if known else None


async def recordings_ended_before(s: AsyncSession, *, before: datetime, limit: int) -> list[Call]:
    """Calls of every user whose recording is past retention (the deletion job's list)."""
    query = select(Call).where(Call.recording_path.is_not(None), Call.ended_at < before)
    return list(await s.scalars(query.order_by(Call.ended_at).limit(limit)))
