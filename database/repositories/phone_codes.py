"""The outstanding code for a person's own number, and the mark of the call that reads one.

The web app makes and checks codes (web_interface/phone_check.py); this module keeps the
row honest under concurrency: a wrong try is counted with one conditional UPDATE, so
parallel guesses cannot get past the limit, and the number is marked verified only if it
is still the one the code was sent to.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from database.models import Call, PhoneCode, Task, User
from database.repositories.base import affected

# In a task's inter_call_context: this task's call reads the person their code. Its words
# are never shown (web_interface/private_calls.py) and its decision is a fixed rule
# (task_manager/post_call_analyzer.py), so the code is learned only by answering the phone.
VERIFICATION_KEY = "phone_verification"
SEND_WINDOW = timedelta(days=1)


def is_verification(inter_call_context: Mapping[str, Any] | None) -> bool:
    return bool((inter_call_context or {}).get(VERIFICATION_KEY))


async def get(s: AsyncSession, *, user_id: int) -> PhoneCode | None:
    return await s.get(PhoneCode, user_id, populate_existing=True)


async def replace(
    s: AsyncSession,
    *,
    user_id: int,
    phone_number: str,
    code_hash: str,
    now: datetime,
    lifetime: timedelta,
) -> PhoneCode:
    """A new code in place of any earlier one; codes sent in the last day are counted on."""
    row = await get(s, user_id=user_id)
    if row is None:
        row = PhoneCode(user_id=user_id, window_started_at=now, sent_in_window=0)
        s.add(row)
    elif now - row.window_started_at >= SEND_WINDOW:
        row.window_started_at, row.sent_in_window = now, 0
    row.phone_number, row.code_hash = phone_number, code_hash
    row.created_at, row.expires_at, row.failed_tries = now, now + lifetime, 0
    row.sent_in_window += 1
    await s.flush()
    return row


async def count_try(s: AsyncSession, *, user_id: int, code_hash: str, limit: int) -> int | None:
    """Use up one try of this code: the tries used so far, or None when none was left (or
    the code was replaced meanwhile)."""
    touched = await affected(
        s,
        update(PhoneCode)
        .where(
            PhoneCode.user_id == user_id,
            PhoneCode.code_hash == code_hash,
            PhoneCode.failed_tries < limit,
        )
        .values(failed_tries=PhoneCode.failed_tries + 1)
        .execution_options(synchronize_session=False),
    )
    if touched != 1:
        return None
    row = await get(s, user_id=user_id)
    return None if row is None else row.failed_tries


async def discard(s: AsyncSession, *, user_id: int) -> None:
    await s.execute(delete(PhoneCode).where(PhoneCode.user_id == user_id))


async def mark_verified(s: AsyncSession, *, user_id: int, phone_number: str, at: datetime) -> bool:
    """The person's number is theirs, if it is still this one; the code is spent."""
    touched = await affected(
        s,
        update(User)
        .where(User.id == user_id, User.phone_number == phone_number)
        .values(phone_verified_at=at)
        .execution_options(synchronize_session=False),
    )
    await discard(s, user_id=user_id)
    return touched == 1


async def verification_calls(s: AsyncSession, *, user_id: int, call_ids: set[str]) -> set[str]:
    """Which of these calls of this user read out a code."""
    if not call_ids:
        return set()
    rows = await s.execute(
        select(Call.id, Task.inter_call_context)
        .join(Task, Task.id == Call.task_id)
        .where(Call.user_id == user_id, Call.id.in_(call_ids))
    )
    return {call_id for call_id, context in rows if is_verification(context)}
