"""The person's own settings over JSON: profile, do-not-call list, API tokens."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status
from fastapi.exceptions import RequestValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from database.models import TokenKind, User
from database.repositories import access_tokens, dnd, users
from web_interface import accounts
from web_interface.deps import ApiUser, DbSession, Deps
from web_interface.phone_numbers import to_e164
from web_interface.schemas import (
    DndCreate,
    DndPublic,
    ProfilePublic,
    ProfileUpdate,
    TokenCreate,
    TokenCreated,
    TokenPublic,
)
from web_interface.views import not_found, profile_public

router = APIRouter(prefix="/api", tags=["account"])


def phone_or_422(raw: str, region: str, field: str) -> str:
    """Same shape as FastAPI's own 422s, so clients parse one error format."""
    try:
        return to_e164(raw, region)
    except ValueError as exc:
        raise RequestValidationError(
            [{"loc": ("body", field), "msg": f"phone number {exc}", "type": "value_error"}]
        ) from None


@router.get("/profile")
async def get_profile(user: ApiUser) -> ProfilePublic:
    return profile_public(user)


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
    if update.standing_facts is not None or update.never_share is not None:
        profile = dict(user.profile or {})
        if update.standing_facts is not None:
            profile["facts"] = dict(update.standing_facts)
        if update.never_share is not None:
            profile["never_share"] = list(update.never_share)
        changes["profile"] = profile
    updated = await users.update(s, user.id, **changes)
    assert updated is not None
    return profile_public(updated)


@router.put("/profile")
async def update_profile(
    update: ProfileUpdate, user: ApiUser, s: DbSession, deps: Deps
) -> ProfilePublic:
    return await apply_profile(s, user, update, deps.default_region)


@router.get("/dnd")
async def list_dnd(user: ApiUser, s: DbSession) -> list[DndPublic]:
    return [DndPublic.model_validate(e) for e in await dnd.list_for_user(s, user_id=user.id)]


@router.post("/dnd", status_code=status.HTTP_201_CREATED)
async def add_dnd(body: DndCreate, user: ApiUser, s: DbSession, deps: Deps) -> DndPublic:
    number = phone_or_422(body.phone_number, deps.default_region, "phone_number")
    entry = await dnd.add(s, user_id=user.id, phone_number=number, reason=body.reason)
    return DndPublic.model_validate(entry)


async def remove_dnd_entry(s: AsyncSession, user_id: int, entry_id: int) -> None:
    entry = next((e for e in await dnd.list_for_user(s, user_id=user_id) if e.id == entry_id), None)
    if entry is None:
        raise not_found("entry")
    await dnd.remove(s, user_id=user_id, phone_number=entry.phone_number)


@router.delete("/dnd/{entry_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_dnd(entry_id: int, user: ApiUser, s: DbSession) -> Response:
    await remove_dnd_entry(s, user.id, entry_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/tokens")
async def list_tokens(user: ApiUser, s: DbSession) -> list[TokenPublic]:
    rows = await access_tokens.list_for_user(s, user_id=user.id, kind=TokenKind.API)
    return [TokenPublic.model_validate(t) for t in rows]


@router.post("/tokens", status_code=status.HTTP_201_CREATED)
async def create_token(body: TokenCreate, user: ApiUser, s: DbSession) -> TokenCreated:
    made = await accounts.create_api_token(s, user_id=user.id, name=body.name)
    return TokenCreated(**TokenPublic.model_validate(made.row).model_dump(), token=made.secret)


@router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_token(token_id: int, user: ApiUser, s: DbSession) -> Response:
    if not await access_tokens.revoke(s, user_id=user.id, token_id=token_id, kind=TokenKind.API):
        raise not_found("token")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
