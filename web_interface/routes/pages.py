"""Server-rendered pages: dashboard, call, campaign, profile (and verifying its phone
number), do-not-call.

Pages read through the same views as the JSON API; their forms post here with the CSRF
field and redirect back (post/redirect/get), or re-render with the problem at 422.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from common.phone_numbers import to_e164
from database.models import TokenKind, TokenScope
from database.repositories import access_tokens, calls, dnd, phone_codes, task_events
from web_interface import accounts, phone_check, views
from web_interface.deps import DbSession, Deps, FormCsrf, PageUser
from web_interface.latency_chart import latency_svg
from web_interface.pagination import FETCH, links, offset, page_of
from web_interface.schemas import (
    MAX_TOKEN_DAYS,
    CallId,
    Clean,
    Id,
    PageNumber,
    PhoneCodeIn,
    ProfileUpdate,
)
from web_interface.templating import render

router = APIRouter(tags=["pages"])
Text = Annotated[Clean, Form(max_length=20_000)]
RECENT_CALLS = 20  # the dashboard's activity feed: recent, not a list to page through


def back(path: str) -> Response:
    return RedirectResponse(path, status_code=status.HTTP_303_SEE_OTHER)


@router.get("/")
async def dashboard(
    request: Request,
    user: PageUser,
    s: DbSession,
    page: PageNumber = 1,
    campaigns_page: PageNumber = 1,
) -> Response:
    """Campaigns and tasks a page each (`campaigns_page`, `page`), the 20 latest calls."""
    campaigns = await views.campaign_list(s, user.id, campaigns_page)
    task_rows = await views.task_page(s, user.id, page)
    context = {
        "campaigns": campaigns.items,
        "campaign_pages": links(request, campaigns, "campaigns_page"),
        "tasks": task_rows.items,
        "task_pages": links(request, task_rows),
        "calls": await calls.list_for_user(s, user_id=user.id, limit=RECENT_CALLS),
    }
    return render(request, "dashboard.html", context, user=user)


@router.get("/campaigns/{campaign_id}")
async def campaign_page(
    campaign_id: Id, request: Request, user: PageUser, s: DbSession, page: PageNumber = 1
) -> Response:
    campaign = await views.campaign_detail(s, user.id, campaign_id)
    task_rows = await views.task_page(s, user.id, page, campaign_id)
    task_ids = [t.id for t in task_rows.items]
    context = {
        "campaign": campaign,
        "tasks": task_rows.items,
        "task_pages": links(request, task_rows),
        "timelines": await task_events.for_tasks(s, user_id=user.id, task_ids=task_ids),
    }
    return render(request, "campaign.html", context, user=user)


@router.get("/calls/{call_id}")
async def call_page(call_id: CallId, request: Request, user: PageUser, s: DbSession) -> Response:
    call = await views.call_detail(s, user.id, call_id)
    context = {"call": call, "chart": latency_svg(call.latency_ms)}
    return render(request, "call.html", context, user=user)


@router.get("/profile")
async def profile_page(
    request: Request, user: PageUser, s: DbSession, page: PageNumber = 1
) -> Response:
    return await _profile(request, user, s, page)


async def _profile(
    request: Request, user: PageUser, s: DbSession, page: int = 1, **extra: object
) -> Response:
    rows = await access_tokens.list_for_user(
        s, user_id=user.id, kind=TokenKind.API, offset=offset(page), limit=FETCH
    )
    tokens = page_of(rows, page)
    status_code = extra.pop("status_code", 422 if extra.get("errors") else 200)
    assert isinstance(status_code, int)
    code = await phone_codes.get(s, user_id=user.id)
    context = {
        "profile": views.profile_public(user),
        "phone_code": code if code and code.phone_number == user.phone_number else None,
        "tokens": tokens.items,
        "token_pages": links(request, tokens),
        **extra,
    }
    return render(request, "profile.html", context, user=user, status_code=status_code)


def _facts(text: str) -> dict[str, str]:
    """ "label: value" per line; a line without a colon is a fact with itself as label."""
    facts: dict[str, str] = {}
    for line in text.splitlines():
        label, sep, value = line.partition(":")
        if line.strip():
            facts[label.strip()] = value.strip() if sep else label.strip()
    return facts


@router.post("/profile", dependencies=[FormCsrf])
async def profile_save(
    request: Request,
    user: PageUser,
    s: DbSession,
    deps: Deps,
    display_name: Text = "",
    phone_number: Text = "",
    time_zone: Text = "UTC",
    facts: Text = "",
    never_share: Text = "",
) -> Response:
    try:
        update = ProfileUpdate(
            display_name=display_name,
            phone_number=phone_number,
            time_zone=time_zone.strip(),
            facts=_facts(facts),
            never_share=[line.strip() for line in never_share.splitlines() if line.strip()],
        )
        await accounts.apply_profile(s, user, update, deps.default_region)
    except ValidationError as exc:
        return await _profile(request, user, s, errors=_messages(exc.errors()))
    except RequestValidationError as exc:
        return await _profile(request, user, s, errors=_messages(exc.errors()))
    return back("/profile")


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
    return await _profile(request, user, s, phone_notice=notice)


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
        why = "type the 6 digits of the code"
        return await _profile(request, user, s, phone_error=why, status_code=422)
    except HTTPException as exc:
        return await _profile(request, user, s, phone_error=exc.detail, status_code=exc.status_code)
    return await _profile(request, user, s, phone_notice="Your phone number is verified.")


def _messages(errors: Iterable[Mapping[str, Any]]) -> list[str]:
    out = []
    for err in errors:
        where = str(err["loc"][-1]) if err.get("loc") else "input"
        out.append(f"{where.replace('_', ' ')}: {err['msg']}")
    return out


@router.post("/profile/tokens", dependencies=[FormCsrf])
async def token_create(
    request: Request,
    user: PageUser,
    s: DbSession,
    name: Annotated[Clean, Form(max_length=100)],
    scopes: Annotated[list[TokenScope], Form(max_length=3)] = [],  # noqa: B006 - FastAPI copies
    days: Annotated[int, Form(ge=1, le=MAX_TOKEN_DAYS)] = 30,
) -> Response:
    errors = [] if name.strip() else ["token name: give the token a name"]
    errors += [] if scopes else ["scopes: tick at least one thing the token may do"]
    if errors:
        return await _profile(request, user, s, errors=errors)
    made = await accounts.create_api_token(
        s, user_id=user.id, name=name.strip(), scopes=scopes, lifetime=timedelta(days=days)
    )
    return await _profile(request, user, s, new_token=made.secret)


@router.post("/profile/tokens/{token_id}/revoke", dependencies=[FormCsrf])
async def token_revoke(token_id: Id, user: PageUser, s: DbSession) -> Response:
    if not await access_tokens.revoke(s, user_id=user.id, token_id=token_id, kind=TokenKind.API):
        raise views.not_found("token")
    return back("/profile")


async def _dnd_context(request: Request, s: DbSession, user_id: int, page: int) -> dict[str, Any]:
    rows = await dnd.list_for_user(s, user_id=user_id, offset=offset(page), limit=FETCH)
    entries = page_of(rows, page)
    return {"entries": entries.items, "entry_pages": links(request, entries)}


@router.get("/dnd")
async def dnd_page(
    request: Request, user: PageUser, s: DbSession, page: PageNumber = 1
) -> Response:
    context = await _dnd_context(request, s, user.id, page)
    return render(request, "dnd.html", context, user=user)


@router.post("/dnd", dependencies=[FormCsrf])
async def dnd_add(
    request: Request,
    user: PageUser,
    s: DbSession,
    deps: Deps,
    phone_number: Annotated[Clean, Form(max_length=40)],
    reason: Annotated[Clean, Form(max_length=500)] = "",
) -> Response:
    try:
        number = to_e164(phone_number, deps.default_region)
    except ValueError as exc:
        context = await _dnd_context(request, s, user.id, 1)
        context |= {"error": f"Phone number {exc}.", "typed": phone_number}
        return render(request, "dnd.html", context, user=user, status_code=422)
    await dnd.add(s, user_id=user.id, phone_number=number, reason=reason.strip())
    return back("/dnd")


@router.post("/dnd/{entry_id}/delete", dependencies=[FormCsrf])
async def dnd_delete(entry_id: Id, user: PageUser, s: DbSession) -> Response:
    await accounts.remove_dnd_entry(s, user.id, entry_id)
    return back("/dnd")
