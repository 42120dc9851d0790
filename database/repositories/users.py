"""Users. Passwords arrive already hashed: hashing belongs to the web layer."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from database.errors import AlreadyExists, NotFound
from database.models import User
from database.profile import Profile
from database.repositories.base import apply_changes, check_e164

UPDATABLE = frozenset({"display_name", "phone_number", "time_zone", "profile", "password_hash"})


def normalise_email(email: str) -> str:
    return email.strip().lower()


async def create(
    s: AsyncSession,
    *,
    email: str,
    password_hash: str,
    display_name: str = "",
    phone_number: str | None = None,
    time_zone: str = "UTC",
    profile: Profile | None = None,
) -> User:
    """Raises AlreadyExists for a taken email; a savepoint keeps the caller's transaction."""
    user = User(
        email=normalise_email(email),
        password_hash=password_hash,
        display_name=display_name,
        phone_number=check_e164(phone_number) if phone_number else None,
        time_zone=time_zone,
        profile=profile or Profile(),
    )
    try:
        async with s.begin_nested():
            s.add(user)
    except IntegrityError as exc:
        raise AlreadyExists("email is already registered") from exc
    return user


async def get(s: AsyncSession, user_id: int) -> User | None:
    return await s.get(User, user_id)


async def get_or_raise(s: AsyncSession, user_id: int) -> User:
    """The user a service acts for; NotFound when they are gone (deleted meanwhile)."""
    user = await get(s, user_id)
    if user is None:
        raise NotFound("user not found")
    return user


async def get_by_email(s: AsyncSession, email: str) -> User | None:
    return await s.scalar(select(User).where(User.email == normalise_email(email)))


async def update(s: AsyncSession, user_id: int, **changes: Any) -> User | None:
    """A new phone number is not verified, whoever changes it (phone_codes.mark_verified
    is the only way to verify one)."""
    user = await get(s, user_id)
    if user is None:
        return None
    if changes.get("phone_number"):
        check_e164(changes["phone_number"])
    if "phone_number" in changes and changes["phone_number"] != user.phone_number:
        user.phone_verified_at = None
    apply_changes(user, changes, UPDATABLE)
    await s.flush()
    return user


async def forwarding_unknown_callers(s: AsyncSession) -> list[User]:
    """People with a phone number who asked for callers we cannot match to be put through
    to them (Profile.forward_unknown_callers), oldest account first.

    Across users by design: an unknown caller belongs to nobody yet. The profile is JSON,
    read through Profile on every backend, so the filter runs here rather than in SQL;
    it reads people with a number only.
    """
    query = select(User).where(User.phone_number.is_not(None)).order_by(User.id)
    return [user for user in await s.scalars(query) if user.profile.forward_unknown_callers]
