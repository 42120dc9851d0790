"""The profile page: the person's details and facts, verifying their own number, and API
tokens.

Every successful form answers 303 back to /profile with a message saying what was done
(post/redirect/get: a reload never sends it again); a failed one re-renders the page at
422 with what was typed and every problem at once (profile_form.py).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request, Response
from pydantic import ValidationError

from database.models import TokenKind, TokenScope
from database.repositories import access_tokens, phone_codes
from web_interface import accounts, phone_check, views
from web_interface.deps import DbSession, Deps, FormCsrf, PageUser
from web_interface.pagination import FETCH, links, offset, page_of
from web_interface.profile_form import ProfileForm
from web_interface.schemas import MAX_TOKEN_DAYS, Clean, Id, PageNumber, PhoneCodeIn
from web_interface.templating import render, see_other

router = APIRouter(tags=["profile"])
Text = Annotated[Clean, Form(max_length=20_000)]
Rows = Annotated[list[Clean], Form(max_length=60)]
HERE = "/profile"


@router.get("/profile")
async def profile_page(
    request: Request, user: PageUser, s: DbSession, page: PageNumber = 1
) -> Response:
    return await _profile(request, user, s, page)


async def _profile(
    request: Request, user: PageUser, s: DbSession, page: int = 1, **extra: Any
) -> Response:
    rows = await access_tokens.list_for_user(
        s, user_id=user.id, kind=TokenKind.API, offset=offset(page), limit=FETCH
    )
    tokens = page_of(rows, page)
    status_code = extra.pop("status_code", 422 if extra.get("errors") else 200)
    code = await phone_codes.get(s, user_id=user.id)
    profile = views.profile_public(user)
    form = extra.pop("form", None) or ProfileForm(
        display_name=profile.display_name,
        phone_number=profile.phone_number or "",
        time_zone=profile.time_zone,
        facts=list(profile.facts.items()),
        never_share="\n".join(profile.never_share),
    )
    context = {
        "profile": profile,
        "form": form,
        "fact_rows": [*form.facts, ("", ""), ("", "")],
        "phone_code": code if code and code.phone_number == user.phone_number else None,
        "tokens": tokens.items,
        "token_pages": links(request, tokens),
        **extra,
    }
    return render(
        request, "profile.html", context, user=user, status_code=status_code, page_url=HERE
    )


@router.post("/profile", dependencies=[FormCsrf])
async def profile_save(
    request: Request,
    user: PageUser,
    s: DbSession,
    deps: Deps,
    display_name: Text = "",
    phone_number: Text = "",
    time_zone: Text = "UTC",
    fact_label: Rows = [],  # noqa: B006 - FastAPI copies
    fact_value: Rows = [],  # noqa: B006 - FastAPI copies
    never_share: Text = "",
) -> Response:
    form = ProfileForm(
        display_name=display_name,
        phone_number=phone_number,
        time_zone=time_zone,
        facts=list(zip(fact_label, fact_value, strict=False)),
        never_share=never_share,
    )
    update = form.check(deps.default_region)
    if update is None:
        return await _profile(request, user, s, form=form, errors=form.summary())
    await accounts.apply_profile(s, user, update, deps.default_region)
    return see_other(request, HERE, "Your profile is saved.")


@router.post("/profile/phone/code", dependencies=[FormCsrf])
async def phone_code_send(request: Request, user: PageUser, s: DbSession, deps: Deps) -> Response:
    try:
        sent = await phone_check.send_code(s, user, deps)
    except HTTPException as exc:
        return await _profile(request, user, s, phone_error=exc.detail, status_code=exc.status_code)
    if sent.channel == "sms":
        notice = f"We texted a code to {user.phone_number}."
    else:  # a call, placed like any other: within the calling hours
        notice = f"We are calling {user.phone_number} to read you a code (within calling hours)."
    notice += f" It is valid for {sent.valid_minutes} minutes."
    return see_other(request, f"{HERE}#phone-check", notice)


@router.post("/profile/phone/verify", dependencies=[FormCsrf])
async def phone_code_check(
    request: Request,
    user: PageUser,
    s: DbSession,
    deps: Deps,
    code: Annotated[Clean, Form(max_length=20)],
) -> Response:
    try:
        checked = PhoneCodeIn(code=code)
        user = await phone_check.check_code(s, user, checked.code, deps.secret_key)
    except ValidationError:
        why = "Type the 6 digits of the code."
        return await _profile(request, user, s, phone_error=why, status_code=422)
    except HTTPException as exc:
        return await _profile(request, user, s, phone_error=exc.detail, status_code=exc.status_code)
    return see_other(request, f"{HERE}#phone-check", "Your phone number is verified.")


@router.post("/profile/tokens", dependencies=[FormCsrf])
async def token_create(
    request: Request,
    user: PageUser,
    s: DbSession,
    name: Annotated[Clean, Form(max_length=100)] = "",
    scopes: Annotated[list[TokenScope], Form(max_length=3)] = [],  # noqa: B006 - FastAPI copies
    days: Annotated[int, Form(ge=1, le=MAX_TOKEN_DAYS)] = 30,
) -> Response:
    errors = [] if name.strip() else ["Token name is empty: give the token a name."]
    errors += [] if scopes else ["Tick at least one thing the token may do."]
    if errors:
        typed = {"name": name, "scopes": [str(x) for x in scopes], "days": days}
        return await _profile(
            request, user, s, token_errors=errors, token_form=typed, status_code=422
        )
    made = await accounts.create_api_token(
        s, user_id=user.id, name=name.strip(), scopes=scopes, lifetime=timedelta(days=days)
    )
    shown = f"Your new token {name.strip()!r} (shown once, copy it now):"
    return see_other(request, f"{HERE}#tokens", (shown, made.secret))


@router.post("/profile/tokens/{token_id}/revoke", dependencies=[FormCsrf])
async def token_revoke(request: Request, token_id: Id, user: PageUser, s: DbSession) -> Response:
    if not await access_tokens.revoke(s, user_id=user.id, token_id=token_id, kind=TokenKind.API):
        raise views.not_found("token")
    return see_other(request, f"{HERE}#tokens", "The token is revoked; it no longer works.")
