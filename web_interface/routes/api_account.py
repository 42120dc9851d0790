"""The person's own settings over JSON: profile, do-not-call list, API tokens."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from database.models import TokenKind
from database.repositories import access_tokens, dnd
from web_interface import accounts
from web_interface.deps import ApiUser, DbSession, Deps
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


@router.get("/profile")
async def get_profile(user: ApiUser) -> ProfilePublic:
    return profile_public(user)


@router.put("/profile")
async def update_profile(
    update: ProfileUpdate, user: ApiUser, s: DbSession, deps: Deps
) -> ProfilePublic:
    return await accounts.apply_profile(s, user, update, deps.default_region)


@router.get("/dnd")
async def list_dnd(user: ApiUser, s: DbSession) -> list[DndPublic]:
    return [DndPublic.model_validate(e) for e in await dnd.list_for_user(s, user_id=user.id)]


@router.post("/dnd", status_code=status.HTTP_201_CREATED)
async def add_dnd(body: DndCreate, user: ApiUser, s: DbSession, deps: Deps) -> DndPublic:
    number = accounts.phone_or_422(body.phone_number, deps.default_region, "phone_number")
    entry = await dnd.add(s, user_id=user.id, phone_number=number, reason=body.reason)
    return DndPublic.model_validate(entry)


@router.delete("/dnd/{entry_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_dnd(entry_id: int, user: ApiUser, s: DbSession) -> Response:
    await accounts.remove_dnd_entry(s, user.id, entry_id)
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
