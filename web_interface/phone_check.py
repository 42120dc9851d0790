"""Proving the person's own number is theirs: a 6-digit code sent to it, typed back here.

Why: the number is where live calls are handed over and texts go, and anyone can type any
number into a profile (issue 13). Until a code sent to it comes back, transfers, take-overs
and texts to it are refused.

The code leaves this module once, to the ChatAssistant (a text, or a call that reads it
out); only an HMAC of it under the app's secret key is stored, bound to the person and the
number, so a copy of the database does not give the code away (a plain hash of six digits
would, in a millisecond). It works for CODE_LIFETIME, for MAX_TRIES wrong tries (counted
in the database before the answer is given, and committed even when the answer is a
refusal), and compared in constant time. Sending costs a text or a call: at most one code
per RESEND_AFTER and MAX_SENDS_PER_DAY a day.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import datetime, timedelta

from fastapi import HTTPException, status
from sqlalchemy.ext.asyncio import AsyncSession

from database.models import PhoneCode, User
from database.repositories import phone_codes, users
from database.types import utcnow
from web_interface.deps import WebDeps
from web_interface.schemas import PhoneCodeSent

log = logging.getLogger(__name__)
CODE_LIFETIME = timedelta(minutes=10)
MAX_TRIES = 5
RESEND_AFTER = timedelta(seconds=60)
MAX_SENDS_PER_DAY = 5


def new_code() -> str:
    return f"{secrets.randbelow(10**6):06d}"


def code_hash(key: bytes, user_id: int, phone_number: str, code: str) -> str:
    return hmac.new(key, f"{user_id}:{phone_number}:{code}".encode(), hashlib.sha256).hexdigest()


def valid_minutes() -> int:
    return int(CODE_LIFETIME.total_seconds() // 60)


def _refuse(code: int, why: str, retry_after: timedelta | None = None) -> HTTPException:
    headers = None
    if retry_after is not None:
        headers = {"Retry-After": str(max(1, int(retry_after.total_seconds())))}
    return HTTPException(code, why, headers=headers)


def _may_send(user: User, row: PhoneCode | None, now: datetime) -> None:
    if not user.phone_number:
        raise _refuse(status.HTTP_409_CONFLICT, "add your phone number to your profile first")
    if user.phone_verified_at is not None:
        raise _refuse(status.HTTP_409_CONFLICT, "your phone number is already verified")
    if row is None:
        return
    wait = row.created_at + RESEND_AFTER - now
    if wait > timedelta(0):
        why = f"a code was just sent; ask again in {int(wait.total_seconds()) + 1} seconds"
        raise _refuse(status.HTTP_429_TOO_MANY_REQUESTS, why, wait)
    day_ends = row.window_started_at + phone_codes.SEND_WINDOW
    if row.sent_in_window >= MAX_SENDS_PER_DAY and now < day_ends:
        why = f"{MAX_SENDS_PER_DAY} codes were sent today; try again tomorrow"
        raise _refuse(status.HTTP_429_TOO_MANY_REQUESTS, why, day_ends - now)


async def send_code(s: AsyncSession, user: User, deps: WebDeps) -> PhoneCodeSent:
    """A new code to the person's number (any earlier one stops working)."""
    if deps.assistant is None:
        raise _refuse(status.HTTP_503_SERVICE_UNAVAILABLE, "codes cannot be sent right now")
    now = utcnow()
    _may_send(user, await phone_codes.get(s, user_id=user.id), now)
    assert user.phone_number is not None  # _may_send refused otherwise
    number, code = user.phone_number, new_code()
    await phone_codes.replace(
        s, user_id=user.id, phone_number=number, now=now, lifetime=CODE_LIFETIME,
        code_hash=code_hash(deps.secret_key, user.id, number, code),
    )  # fmt: skip
    # Stored before it is sent; and committed, so the sender's own writes (a text's row, a
    # call's campaign) do not wait on this transaction (SQLite has one writer).
    await s.commit()
    sent = await deps.assistant.send_phone_code(user.id, number, code, valid_minutes())
    if "problems" in sent:
        await phone_codes.discard(s, user_id=user.id)
        await s.commit()
        why = "the code could not be sent: " + "; ".join(sent["problems"])
        raise _refuse(status.HTTP_502_BAD_GATEWAY, why)
    log.info("phone code sent", extra={"user_id": user.id, "channel": sent["channel"]})
    return PhoneCodeSent(
        channel=sent["channel"], valid_minutes=valid_minutes(), campaign_id=sent.get("campaign_id")
    )


async def check_code(s: AsyncSession, user: User, code: str, key: bytes) -> User:
    """The person's row, verified; or a refusal that says why (a wrong try is counted and
    committed before the refusal leaves)."""
    now = utcnow()
    row = await phone_codes.get(s, user_id=user.id)
    if row is None or not user.phone_number or row.phone_number != user.phone_number:
        raise _refuse(status.HTTP_409_CONFLICT, "ask for a code first")
    if row.failed_tries >= MAX_TRIES:
        raise _refuse(status.HTTP_429_TOO_MANY_REQUESTS, "too many wrong codes; ask for a new one")
    if now >= row.expires_at:
        raise _refuse(status.HTTP_410_GONE, "this code has expired; ask for a new one")
    expected = row.code_hash
    used = await phone_codes.count_try(s, user_id=user.id, code_hash=expected, limit=MAX_TRIES)
    await s.commit()  # the try counts whatever happens next
    if used is None:  # the last tries went to parallel guesses, or a new code replaced it
        raise _refuse(status.HTTP_429_TOO_MANY_REQUESTS, "too many wrong codes; ask for a new one")
    given = code_hash(key, user.id, row.phone_number, code)
    if not hmac.compare_digest(given, expected):
        left = MAX_TRIES - used
        why = f"wrong code; {left} {'try' if left == 1 else 'tries'} left"
        if not left:
            why = "wrong code; that was the last try, ask for a new code"
        raise _refuse(status.HTTP_400_BAD_REQUEST, why)
    number = row.phone_number
    if not await phone_codes.mark_verified(s, user_id=user.id, phone_number=number, at=now):
        raise _refuse(status.HTTP_409_CONFLICT, "your number changed meanwhile; ask for a new code")
    log.info("phone number verified", extra={"user_id": user.id})
    verified = await users.get(s, user.id)
    assert verified is not None
    await s.refresh(verified)
    return verified
