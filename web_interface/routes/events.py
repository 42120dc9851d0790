"""WebSocket /ws/events: the person's live events (turns, call progress, questions).

Authenticated before accepting, by the session cookie (browsers; the Origin must be this
site, or any page on the web could open the socket with the person's cookie) or by an
API token in the `token` query parameter (scripts). The socket subscribes to
`channels.user_events(user_id)` of that one person only, so it cannot carry anyone else's events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketState

from common.command_bus import Subscription
from common.events import LiveEvent
from common.owned_tasks import TaskOwner
from database.models import TokenKind
from web_interface import accounts
from web_interface.deps import WebDeps, session_secret

router = APIRouter()
log = logging.getLogger(__name__)
POLICY_VIOLATION = 1008
AUTH_TIMEOUT = 10.0


@router.websocket("/ws/events")
async def events(ws: WebSocket) -> None:
    deps: WebDeps = ws.app.state.deps
    user_id = await asyncio.wait_for(_authenticate(ws, deps), AUTH_TIMEOUT)
    if user_id is None:
        await ws.close(code=POLICY_VIOLATION)  # before accept: the client sees HTTP 403
        return
    assert deps.bus is not None
    async with deps.bus.subscribe_events(user_id) as subscription:
        await ws.accept()
        await _serve(ws, subscription, user_id)


async def _authenticate(ws: WebSocket, deps: WebDeps) -> int | None:
    """A short unit of work of its own: no database session is held while the socket lives."""
    assert deps.sessions is not None
    token = ws.query_params.get("token")
    secret: str | None
    if token:
        secret, kind = token, TokenKind.API
    else:
        if not _same_origin(ws):
            return None
        secret, kind = session_secret(ws, deps), TokenKind.SESSION
    if not secret:
        return None
    async with deps.sessions() as s, s.begin():
        user = await accounts.user_for(s, secret=secret, kind=kind)
    return user.id if user is not None else None


def _same_origin(ws: WebSocket) -> bool:
    origin = ws.headers.get("origin")
    if origin is None:  # not a browser: no cookie was sent on anyone's behalf
        return True
    return urlsplit(origin).netloc.lower() == ws.headers.get("host", "").lower()


async def _serve(ws: WebSocket, subscription: Subscription[LiveEvent], user_id: int) -> None:
    """Forward events until either side ends: the client leaves or the bus closes."""
    owner = TaskOwner(f"ws:{user_id}")
    forward = owner.spawn(_forward(ws, subscription), name="forward")
    listen = owner.spawn(_drain(ws), name="listen")
    try:
        await asyncio.wait({forward, listen}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await owner.aclose(timeout=2.0)
        if ws.client_state == WebSocketState.CONNECTED:
            with contextlib.suppress(RuntimeError, OSError):  # the client left meanwhile
                await ws.close()


async def _forward(ws: WebSocket, subscription: Subscription[LiveEvent]) -> None:
    async for event in subscription:
        await ws.send_text(event.model_dump_json())


async def _drain(ws: WebSocket) -> None:
    """Reads (and ignores) client messages; returns when the client disconnects."""
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return
