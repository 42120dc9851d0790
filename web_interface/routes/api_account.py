"""The person's own settings over JSON: profile, do-not-call list, API tokens.

An API token with the `account` scope may edit the profile and the do-not-call list, but
not the phone number (calls are transferred there), nor verify it, and no token may make
or revoke tokens: those need the person's browser session.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, HTTPException, Request, Response, status

from database.models import TokenKind
from database.repositories import access_tokens, dnd
from web_interface import accounts, phone_check
from web_interface.deps import AccountUser, DbSession, Deps, ReadUser, SessionUser
from web_interface.pagination import FETCH, offset, page_of, set_link_header
from web_interface.schemas import (
    DndCreate,
    DndPublic,
    Id,
    PageNumber,
    PhoneCodeIn,
    PhoneCodeSent,
    ProfilePublic,
    ProfileUpdate,
    TokenCreate,
    TokenCreated,
    TokenPublic,
)
from web_interface.views import not_found, profile_public

router = APIRouter(prefix="/api", tags=["account"])


@router.get("/profile")
async def get_profile(user: ReadUser) -> ProfilePublic:
    return profile_public(user)


@router.put("/profile")
async def update_profile(
    request: Request, update: ProfileUpdate, user: AccountUser, s: DbSession, deps: Deps
) -> ProfilePublic:
    if update.phone_number is not None and request.state.auth != "session":
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "the phone number can only be changed when logged in"
        )
    return await accounts.apply_profile(s, user, update, deps.default_region)


@router.post("/profile/phone/code")
async def send_phone_code(user: SessionUser, s: DbSession, deps: Deps) -> PhoneCodeSent:
    """A 6-digit code to the person's number: a text when SMS is configured, else a call
    that reads it out. Like changing the number, it needs the browser session."""
    return await phone_check.send_code(s, user, deps)


@router.post("/profile/phone/verify")
async def verify_phone(
    body: PhoneCodeIn, user: SessionUser, s: DbSession, deps: Deps
) -> ProfilePublic:
    """The code back: the number is verified (400 wrong, 410 expired, 429 too many tries)."""
    return profile_public(await phone_check.check_code(s, user, body.code, deps.secret_key))


@router.get("/dnd")
async def list_dnd(
    request: Request, response: Response, user: ReadUser, s: DbSession, page: PageNumber = 1
) -> list[DndPublic]:
    rows = await dnd.list_for_user(s, user_id=user.id, offset=offset(page), limit=FETCH)
    found = page_of([DndPublic.model_validate(e) for e in rows], page)
    set_link_header(response, request, found)
    return found.items


@router.post("/dnd", status_code=status.HTTP_201_CREATED)
async def add_dnd(body: DndCreate, user: AccountUser, s: DbSession, deps: Deps) -> DndPublic:
    number = accounts.phone_or_422(body.phone_number, deps.default_region, "phone_number")
    entry = await dnd.add(s, user_id=user.id, phone_number=number, reason=body.reason)
    return DndPublic.model_validate(entry)


@router.delete("/dnd/{entry_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_dnd(entry_id: Id, user: AccountUser, s: DbSession) -> Response:
    await accounts.remove_dnd_entry(s, user.id, entry_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/tokens")
async def list_tokens(
    request: Request, response: Response, user: ReadUser, s: DbSession, page: PageNumber = 1
) -> list[TokenPublic]:
    rows = await access_tokens.list_for_user(
        s, user_id=user.id, kind=TokenKind.API, offset=offset(page), limit=FETCH
    )
    found = page_of([TokenPublic.model_validate(t) for t in rows], page)
    set_link_header(response, request, found)
    return found.items


@router.post("/tokens", status_code=status.HTTP_201_CREATED)
async def create_token(body: TokenCreate, user: SessionUser, s: DbSession) -> TokenCreated:
    made = await accounts.create_api_token(
        s,
        user_id=user.id,
        name=body.name,
        scopes=body.scopes,
        lifetime=timedelta(days=body.expires_in_days),
    )
    return TokenCreated(**TokenPublic.model_validate(made.row).model_dump(), token=made.secret)


@router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_token(token_id: Id, user: SessionUser, s: DbSession) -> Response:
    if not await access_tokens.revoke(s, user_id=user.id, token_id=token_id, kind=TokenKind.API):
        raise not_found("token")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
