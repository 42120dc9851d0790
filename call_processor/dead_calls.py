"""Closing the row of a call whose process died: at the last moment we know of it.

Why here (call_processor owns call rows): after `kill -9` or a lost database, a calls row
can stay dialing, ringing or answered with nobody following it. Whoever finds it (the
lifecycle sweep of any process) closes it through this one function, so the row says
when the call really stopped being heard of (not when it was found), how long it lasted,
and its open questions to the person stop accepting answers.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from call_processor.finished_call import EndedBy
from database.models import Call
from database.repositories import calls, feedback
from database.states import CallStatus

RECOVERED = "recovered"  # the end_reason of a row closed this way


async def close_dead_call(s: AsyncSession, call: Call, now: datetime) -> Call:
    """Mark a call nobody follows any more as interrupted; returns the closed row."""
    last = await calls.last_known_moment(s, user_id=call.user_id, call_id=call.id)
    ended = min(now, max(m for m in (last, call.answered_at, call.started_at) if m is not None))
    duration = None
    if call.answered_at is not None:
        duration = max(0.0, (ended - call.answered_at).total_seconds())
    await feedback.expire_for_call(s, user_id=call.user_id, call_id=call.id)
    closed = await calls.update(
        s, user_id=call.user_id, call_id=call.id, status=CallStatus.INTERRUPTED,
        outcome=str(CallStatus.INTERRUPTED), end_reason=RECOVERED,
        ended_by=str(EndedBy.PLATFORM), ended_at=ended, duration_seconds=duration,
    )  # fmt: skip
    return closed or call
