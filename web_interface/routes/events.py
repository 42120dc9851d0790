"""WebSocket /ws/events: the person's live events (turns, call progress, questions).

Authenticated before accepting, by the session cookie (browsers; the Origin must be this
site, or any page on the web could open the socket with the person's cookie) or by a
ticket in the `ticket` query parameter (scripts): single-use, valid 30 s, minted by an
authenticated POST /api/events/ticket. No lasting credential ever travels in the URL,
where proxies and servers log it. The socket subscribes to
`channels.user_events(user_id)` of that one person only, so it cannot carry anyone
else's events; a person has at most `SocketLimit.per_user` of them (live_sockets.py).

A live event is published once, to whoever listens then: a question asked while a page
loads or reconnects would be lost, and the callee would wait for an answer nobody saw. So
the first message of every socket is `questions_pending`, every question still waiting,
read from the store after the subscription is listening: a question is in that list, or
arrives live after it, or both (then only the list carries it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import APIRouter, WebSocket, status
from starlette.websockets import WebSocketState

from common.command_bus import Subscription
from common.events import FeedbackRequested, LiveEvent, QuestionsPending
from common.owned_tasks import TaskOwner
from database.repositories import feedback
from database.types import utcnow
from web_interface import accounts
from web_interface.deps import DbSession, ReadUser, WebDeps
from web_interface.live_sockets import REPLACED, REPLACED_REASON
from web_interface.private_calls import LiveMask
from web_interface.schemas import WsTicket
from web_interface.socket_auth import AUTH_TIMEOUT, POLICY_VIOLATION, authenticate_socket

router = APIRouter()
log = logging.getLogger(__name__)
PENDING_LIMIT = 100  # questions a socket is sent on opening (a call asks one at a time)


@router.post("/api/events/ticket", status_code=status.HTTP_201_CREATED)
async def ticket(user: ReadUser, s: DbSession) -> WsTicket:
    """For scripts: open `/ws/events?ticket=...` within the ticket's lifetime, once."""
    made = await accounts.issue_ws_ticket(s, user_id=user.id)
    lifetime = int(accounts.WS_TICKET_LIFETIME.total_seconds())
    return WsTicket(ticket=made.secret, expires_in=lifetime)


@router.websocket("/ws/events")
async def events(ws: WebSocket) -> None:
    deps: WebDeps = ws.app.state.deps
    user_id = await asyncio.wait_for(authenticate_socket(ws, deps), AUTH_TIMEOUT)
    if user_id is None:
        await ws.close(code=POLICY_VIOLATION)  # before accept: the client sees HTTP 403
        return
    assert deps.bus is not None
    assert deps.private_calls is not None
    mask = LiveMask(deps.private_calls, user_id)
    async with deps.bus.subscribe_events(user_id) as subscription:
        with deps.sockets.admit(user_id) as replaced:
            await ws.accept()
            pending = await _pending(deps, user_id)  # after subscribing: nothing falls between
            await ws.send_text(pending.model_dump_json())
            sent = {q.request_id for q in pending.questions}
            await _serve(ws, subscription, mask, replaced, sent)


async def _pending(deps: WebDeps, user_id: int) -> QuestionsPending:
    assert deps.sessions is not None
    async with deps.sessions() as s:
        rows = await feedback.list_open(
            s, user_id=user_id, answerable_at=utcnow(), limit=PENDING_LIMIT, newest_first=True
        )
    questions = [
        FeedbackRequested(
            request_id=r.id, call_id=r.call_id, question=r.question, expires_at=r.expires_at
        )
        for r in reversed(rows)  # the newest, oldest first: as they were asked
    ]
    return QuestionsPending(questions=questions)


async def _serve(
    ws: WebSocket,
    subscription: Subscription[LiveEvent],
    mask: LiveMask,
    replaced: asyncio.Event,
    sent: set[int],
) -> None:
    """Forward events until either side ends, or a newer page of this person replaces it."""
    owner = TaskOwner(f"ws:{mask.user_id}")
    forward = owner.spawn(_forward(ws, subscription, mask, sent), name="forward")
    listen = owner.spawn(_drain(ws), name="listen")
    give_way = owner.spawn(replaced.wait(), name="replaced")
    code, reason = 1000, ""
    try:
        done, _ = await asyncio.wait(
            {forward, listen, give_way}, return_when=asyncio.FIRST_COMPLETED
        )
        if give_way in done:
            code, reason = REPLACED, REPLACED_REASON
    finally:
        await owner.aclose(timeout=2.0)
        if ws.client_state == WebSocketState.CONNECTED:
            with contextlib.suppress(RuntimeError, OSError):  # the client left meanwhile
                await ws.close(code=code, reason=reason)


async def _forward(
    ws: WebSocket, subscription: Subscription[LiveEvent], mask: LiveMask, sent: set[int]
) -> None:
    """`sent`: questions the pending list carried; their live announcement is skipped."""
    async for event in subscription:
        if isinstance(event, FeedbackRequested) and event.request_id in sent:
            continue
        shown = await mask.shown(event)  # a code-reading call's words stay hidden
        await ws.send_text(shown.model_dump_json())


async def _drain(ws: WebSocket) -> None:
    """Reads (and ignores) client messages; returns when the client disconnects."""
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return
