"""Accounts: sign up, password login, browser sessions, API tokens and WebSocket tickets.

Everything here takes the request's database session; the routes decide what the
person sees. Secrets leave this module once (to the cookie or the token owner) and are
stored only as hashes (see security.py).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi.exceptions import RequestValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from common.phone_numbers import to_e164
from database.models import AccessToken, TokenKind, TokenScope, User
from database.repositories import access_tokens, dnd, users
from database.types import utcnow
from web_interface.passwords import (
    hash_password,
    hash_password_async,
    needs_rehash,
    verify_password_async,
)
from web_interface.schemas import ProfilePublic, ProfileUpdate
from web_interface.security import hash_token, new_api_token, new_secret
from web_interface.views import not_found, profile_public

# Verifying against this when the email is unknown keeps "no such account" and "wrong
# password" equally slow, so timing does not reveal which emails are registered.
_DUMMY_HASH = hash_password("not a real password")
# Long enough to open a socket right after asking for it; too short to be worth stealing.
WS_TICKET_LIFETIME = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class NewSecret:
    """A freshly made credential: `secret` is shown/sent once and never stored."""

    secret: str
    row: AccessToken


async def sign_up(s: AsyncSession, *, email: str, password: str, display_name: str) -> User:
    """Raises database.errors.AlreadyExists for a taken email."""
    return await users.create(
        s, email=email, password_hash=await hash_password_async(password), display_name=display_name
    )


async def check_password(s: AsyncSession, *, email: str, password: str) -> User | None:
    user = await users.get_by_email(s, email)
    if user is None:
        await verify_password_async(_DUMMY_HASH, password)
        return None
    if not await verify_password_async(user.password_hash, password):
        return None
    if needs_rehash(user.password_hash):
        await users.update(s, user.id, password_hash=await hash_password_async(password))
    return user


async def _issue(
    s: AsyncSession, *, user_id: int, kind: TokenKind, lifetime: timedelta
) -> NewSecret:
    """Also sweeps expired credentials: logins and tickets are rare enough that no extra
    loop is needed."""
    await access_tokens.delete_expired(s, now=utcnow())
    secret = new_secret()
    row = await access_tokens.create(
        s,
        user_id=user_id,
        kind=kind,
        token_hash=hash_token(secret),
        expires_at=utcnow() + lifetime,
    )
    return NewSecret(secret, row)


async def open_session(s: AsyncSession, *, user_id: int, lifetime: timedelta) -> NewSecret:
    return await _issue(s, user_id=user_id, kind=TokenKind.SESSION, lifetime=lifetime)


async def close_session(s: AsyncSession, *, secret: str) -> None:
    await access_tokens.revoke_by_hash(s, token_hash=hash_token(secret))


async def user_for(s: AsyncSession, *, secret: str, kind: TokenKind) -> User | None:
    """The owner of a live session or API token, else None (unknown, expired, revoked)."""
    row = await access_tokens.find_active(s, token_hash=hash_token(secret), kind=kind)
    if row is None:
        return None
    return await users.get(s, row.user_id)


async def token_user(s: AsyncSession, *, secret: str) -> tuple[User, frozenset[TokenScope]] | None:
    """The owner of a live API token and what the token may do, else None."""
    row = await access_tokens.find_active(s, token_hash=hash_token(secret), kind=TokenKind.API)
    if row is None:
        return None
    user = await users.get(s, row.user_id)
    return None if user is None else (user, row.scope_set)


async def create_api_token(
    s: AsyncSession,
    *,
    user_id: int,
    name: str,
    scopes: Collection[TokenScope],
    lifetime: timedelta,
) -> NewSecret:
    secret = new_api_token()
    row = await access_tokens.create(
        s,
        user_id=user_id,
        kind=TokenKind.API,
        token_hash=hash_token(secret),
        name=name,
        scopes=" ".join(sorted(TokenScope(scope).value for scope in set(scopes))),
        expires_at=utcnow() + lifetime,
    )
    return NewSecret(secret, row)


async def issue_ws_ticket(s: AsyncSession, *, user_id: int) -> NewSecret:
    """A single-use pass for one /ws/events connection, so no lasting credential is put in
    a URL (URLs end up in logs and histories)."""
    return await _issue(s, user_id=user_id, kind=TokenKind.WS_TICKET, lifetime=WS_TICKET_LIFETIME)


async def redeem_ws_ticket(s: AsyncSession, *, secret: str) -> int | None:
    """The user a live, unused ticket was issued to; the ticket is gone afterwards."""
    row = await access_tokens.take(s, token_hash=hash_token(secret), kind=TokenKind.WS_TICKET)
    return None if row is None else row.user_id


# -- the person's own settings (shared by the JSON API and the pages) ---------------
def phone_or_422(raw: str, region: str, field: str) -> str:
    """Same shape as FastAPI's own 422s, so clients parse one error format."""
    try:
        return to_e164(raw, region)
    except ValueError as exc:
        raise RequestValidationError(
            [{"loc": ("body", field), "msg": f"phone number {exc}", "type": "value_error"}]
        ) from None


async def apply_profile(
    s: AsyncSession, user: User, update: ProfileUpdate, region: str
) -> ProfilePublic:
    changes: dict[str, Any] = {}
    if update.display_name is not None:
        changes["display_name"] = update.display_name
    if update.time_zone is not None:
        changes["time_zone"] = update.time_zone
    if update.phone_number is not None:
        changes["phone_number"] = (
            phone_or_422(update.phone_number, region, "phone_number")
            if update.phone_number
            else None
        )
    profile: dict[str, Any] = {}
    if update.facts is not None:
        profile["facts"] = dict(update.facts)
    if update.never_share is not None:
        profile["never_share"] = tuple(update.never_share)
    if profile:
        changes["profile"] = user.profile.model_copy(update=profile)
    updated = await users.update(s, user.id, **changes)
    assert updated is not None
    return profile_public(updated)


async def remove_dnd_entry(s: AsyncSession, user_id: int, entry_id: int) -> None:
    entry = await dnd.get(s, user_id=user_id, entry_id=entry_id)
    if entry is None:
        raise not_found("entry")
    await dnd.remove(s, user_id=user_id, phone_number=entry.phone_number)
