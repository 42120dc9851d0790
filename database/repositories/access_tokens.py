"""Sessions and API tokens by hash: created at login / by the person, found per request.

`find_active` and `take` are the lookups that do not start from a user_id: the secret
the client presents is what identifies the user (that is what authentication means).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from database.models import AccessToken, TokenKind
from database.repositories.base import affected
from database.types import utcnow


async def create(
    s: AsyncSession,
    *,
    user_id: int,
    kind: TokenKind,
    token_hash: str,
    name: str = "",
    expires_at: datetime | None = None,
    scopes: str = "",
) -> AccessToken:
    token = AccessToken(
        user_id=user_id,
        kind=kind,
        token_hash=token_hash,
        name=name,
        expires_at=expires_at,
        scopes=scopes,
    )
    s.add(token)
    await s.flush()
    return token


async def find_active(
    s: AsyncSession, *, token_hash: str, kind: TokenKind, now: datetime | None = None
) -> AccessToken | None:
    """The unexpired token with this hash and kind; None for unknown, expired or revoked."""
    now = now or utcnow()
    query = select(AccessToken).where(
        AccessToken.token_hash == token_hash,
        AccessToken.kind == kind,
        or_(AccessToken.expires_at.is_(None), AccessToken.expires_at > now),
    )
    return await s.scalar(query)


async def take(
    s: AsyncSession, *, token_hash: str, kind: TokenKind, now: datetime | None = None
) -> AccessToken | None:
    """A single-use credential: the live row, deleted in the same breath. Of two requests
    presenting it at once, one DELETE touches the row and the other gets None."""
    row = await find_active(s, token_hash=token_hash, kind=kind, now=now)
    if row is None:
        return None
    gone = await affected(s, delete(AccessToken).where(AccessToken.id == row.id))
    return row if gone == 1 else None


async def list_for_user(
    s: AsyncSession,
    *,
    user_id: int,
    kind: TokenKind,
    limit: int | None = None,
    offset: int = 0,
) -> list[AccessToken]:
    query = select(AccessToken).where(AccessToken.user_id == user_id, AccessToken.kind == kind)
    query = query.order_by(AccessToken.created_at, AccessToken.id).offset(offset).limit(limit)
    return list(await s.scalars(query))


async def revoke(s: AsyncSession, *, user_id: int, token_id: int, kind: TokenKind) -> bool:
    """False when the token is not this user's (or already gone)."""
    touched = await affected(
        s,
        delete(AccessToken).where(
            AccessToken.id == token_id, AccessToken.user_id == user_id, AccessToken.kind == kind
        ),
    )
    return bool(touched)


async def revoke_by_hash(s: AsyncSession, *, token_hash: str) -> bool:
    """Logout: whoever holds the secret may end it."""
    touched = await affected(s, delete(AccessToken).where(AccessToken.token_hash == token_hash))
    return bool(touched)


async def delete_expired(s: AsyncSession, *, now: datetime) -> int:
    touched = await affected(
        s,
        delete(AccessToken).where(
            AccessToken.expires_at.is_not(None), AccessToken.expires_at <= now
        ),
    )
    return touched
