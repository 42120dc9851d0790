"""The planning chat and test calls: pages and JSON, all through the ChatAssistant.

Replies stream as server-sent events over a POST (the page reads them with fetch), one
JSON object per `data:` line, so a script with an API token can use the same endpoint.
Ownership is checked before the stream starts: another person's conversation is a plain
404, never a stream that fails halfway.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from database.errors import NotFound
from database.models import Conversation
from database.repositories import conversations
from web_interface.assistant import ChatAssistant
from web_interface.deps import CallsUser, DbSession, Deps, FormCsrf, PageUser, ReadUser
from web_interface.pagination import FETCH, links, offset, page_of, set_link_header
from web_interface.schemas import (
    CampaignCreated,
    ChatIn,
    ChatLine,
    Clean,
    ConversationDetail,
    ConversationPublic,
    Id,
    PageNumber,
    PlanConfirmIn,
    TrialCallIn,
)
from web_interface.templating import render
from web_interface.views import not_found

router = APIRouter(tags=["chat"])
log = logging.getLogger(__name__)


async def release(s: AsyncSession) -> None:
    """End this request's unit of work before the assistant starts its own: on SQLite a
    transaction left open here would hold the write lock the assistant needs."""
    await s.commit()


def assistant_or_503(deps: Deps) -> ChatAssistant:
    if deps.assistant is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the assistant is not running")
    return deps.assistant


async def owned(s: AsyncSession, user_id: int, conversation_id: int) -> Conversation:
    row = await conversations.get(s, user_id=user_id, conversation_id=conversation_id)
    if row is None:
        raise not_found("conversation")
    return row


def detail(row: Conversation) -> ConversationDetail:
    """What the person sees of a chat: their words and the assistant's, not tool traffic."""
    lines = [
        ChatLine(role=m["role"], text=m["content"])
        for m in row.messages
        if m.get("role") in ("user", "assistant") and m.get("content")
    ]
    public = ConversationPublic.model_validate(row).model_dump()
    return ConversationDetail(**public, lines=lines, plan=row.plan)


def problems_422(problems: list[str]) -> RequestValidationError:
    """Same shape as FastAPI's own 422s: one entry per problem, located at the plan."""
    return RequestValidationError(
        [{"loc": ("body", "plan"), "msg": p, "type": "value_error"} for p in problems]
    )


def _created(result: dict[str, Any]) -> CampaignCreated:
    """The assistant's answer ({"campaign_id", "task_ids"} or {"problems"}) as the API's."""
    if "problems" in result:
        raise problems_422(result["problems"])
    return CampaignCreated(**result)


# --- JSON ---------------------------------------------------------------------------------
@router.get("/api/chat")
async def list_conversations(
    request: Request, response: Response, user: ReadUser, s: DbSession, page: PageNumber = 1
) -> list[ConversationPublic]:
    rows = await conversations.list_for_user(s, user_id=user.id, offset=offset(page), limit=FETCH)
    found = page_of([ConversationPublic.model_validate(r) for r in rows], page)
    set_link_header(response, request, found)
    return found.items


@router.get("/api/chat/{conversation_id}")
async def get_conversation(conversation_id: Id, user: ReadUser, s: DbSession) -> ConversationDetail:
    return detail(await owned(s, user.id, conversation_id))


@router.post("/api/chat")
async def chat(body: ChatIn, user: CallsUser, s: DbSession, deps: Deps) -> StreamingResponse:
    """503 before anything is stored when the assistant cannot answer (no key)."""
    assistant = assistant_or_503(deps)
    if (why := assistant.unavailable()) is not None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, why)
    if body.conversation_id is not None:
        await owned(s, user.id, body.conversation_id)
    await release(s)
    events = assistant.reply(user.id, body.conversation_id, body.message)
    return StreamingResponse(
        _sse(events, user.id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _sse(events: AsyncIterator[dict[str, Any]], user_id: int) -> AsyncIterator[str]:
    try:
        async for event in events:
            yield f"data: {json.dumps(event)}\n\n"
    except NotFound:
        yield 'data: {"type": "error", "message": "conversation not found"}\n\n'
    except Exception:  # the stream has started: the page can only be told in-band
        log.exception("chat reply failed", extra={"user_id": user_id})
        yield 'data: {"type": "error", "message": "The assistant failed; try again."}\n\n'


@router.post("/api/chat/{conversation_id}/confirm", status_code=status.HTTP_201_CREATED)
async def confirm(
    conversation_id: Id, body: PlanConfirmIn, user: CallsUser, s: DbSession, deps: Deps
) -> CampaignCreated:
    assistant = assistant_or_503(deps)
    await owned(s, user.id, conversation_id)
    await release(s)
    return _created(await assistant.confirm(user.id, conversation_id, body.plan))


@router.post("/api/campaigns", status_code=status.HTTP_201_CREATED)
async def create_campaign(
    body: PlanConfirmIn, user: CallsUser, s: DbSession, deps: Deps
) -> CampaignCreated:
    """A plan made by hand, without the assistant: checked by the very rules that check
    the assistant's plans (ChatAssistant.confirm)."""
    await release(s)
    return _created(await assistant_or_503(deps).confirm(user.id, None, body.plan))


@router.post("/api/test-call", status_code=status.HTTP_201_CREATED)
async def test_call(
    body: TrialCallIn, user: CallsUser, s: DbSession, deps: Deps
) -> CampaignCreated:
    await release(s)
    assistant = assistant_or_503(deps)
    return _created(await assistant.test_call(user.id, body.phone_number, body.objective))


# --- pages --------------------------------------------------------------------------------
async def _conversations(request: Request, s: AsyncSession, user_id: int, page: int) -> Any:
    rows = await conversations.list_for_user(s, user_id=user_id, offset=offset(page), limit=FETCH)
    found = page_of(rows, page)
    return {"conversations": found.items, "conversation_pages": links(request, found)}


@router.get("/chat")
async def chat_page(
    request: Request,
    user: PageUser,
    s: DbSession,
    deps: Deps,
    c: Id | None = None,
    page: PageNumber = 1,
) -> Response:
    current = detail(await owned(s, user.id, c)) if c is not None else None
    context = {
        **await _conversations(request, s, user.id, page),
        **_state(deps),
        "current": current,
    }
    return render(request, "chat.html", context, user=user)


def _state(deps: Deps) -> dict[str, Any]:
    """Whether the chat and the test call work, and if not, why and what to do."""
    if deps.assistant is None:
        return {"assistant_ready": False, "chat_unavailable": "The assistant is not running."}
    return {"assistant_ready": True, "chat_unavailable": deps.assistant.unavailable()}


@router.post("/test-call", dependencies=[FormCsrf])
async def test_call_form(
    request: Request,
    user: PageUser,
    s: DbSession,
    deps: Deps,
    phone_number: Annotated[Clean, Form(max_length=40)],
    objective: Annotated[Clean, Form(max_length=2000)],
) -> Response:
    problems = ["Describe what the call should achieve."] if not objective.strip() else []
    if not problems:
        await release(s)
        result = await assistant_or_503(deps).test_call(user.id, phone_number, objective.strip())
        if "campaign_id" in result:
            return RedirectResponse(f"/campaigns/{result['campaign_id']}", status_code=303)
        problems = result["problems"]
    context = {
        **await _conversations(request, s, user.id, 1),
        **_state(deps),
        "current": None,
        "test_call": {"phone_number": phone_number, "objective": objective, "problems": problems},
    }
    return render(request, "chat.html", context, user=user, status_code=422, page_url="/chat")
