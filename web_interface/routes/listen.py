"""WebSocket /ws/calls/{call_id}/listen: both sides of the owner's live call, as it happens.

The socket is authenticated like /ws/events (web_interface/socket_auth.py), then admitted
only for the person's own call, while it is live, and never for a private call (the one
that reads them a code). It asks the call's process to publish the audio with the `listen`
command, renewed every RENEW seconds, and forwards each message as one binary frame (the
format is call_processor/live_listen.py's); when the socket ends it says stop. Listening
is passive: nothing here can change the call.
"""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketState

from common.command_bus import CommandBusError, Subscription
from common.commands import Listen
from common.owned_tasks import TaskOwner
from database.repositories import calls
from database.states import CallStatus
from web_interface import private_calls
from web_interface.deps import WebDeps
from web_interface.socket_auth import AUTH_TIMEOUT, POLICY_VIOLATION, authenticate_socket

router = APIRouter()
LEASE = 10.0  # seconds of audio one `listen` command asks for
RENEW = 4.0  # well inside the lease, so a late renewal never leaves a gap


@router.websocket("/ws/calls/{call_id}/listen")
async def listen(ws: WebSocket, call_id: str) -> None:
    deps: WebDeps = ws.app.state.deps
    user_id = await asyncio.wait_for(authenticate_socket(ws, deps), AUTH_TIMEOUT)
    if user_id is None or not await _may_listen(deps, user_id, call_id):
        await ws.close(code=POLICY_VIOLATION)  # before accept: the client sees HTTP 403
        return
    assert deps.bus is not None
    async with deps.bus.subscribe_call_audio(call_id) as audio:
        with deps.sockets.admit(user_id) as replaced:
            await ws.accept()
            try:
                await _serve(ws, deps, user_id, call_id, audio, replaced)
            finally:
                with contextlib.suppress(CommandBusError):
                    await deps.bus.publish(call_id, Listen(seconds=0))


async def _may_listen(deps: WebDeps, user_id: int, call_id: str) -> bool:
    """The person's own live call, and not one that reads them a code."""
    assert deps.sessions is not None
    async with deps.sessions() as s:
        call = await calls.get(s, user_id=user_id, call_id=call_id)
        if call is None or CallStatus(call.status).is_final:
            return False
        return not await private_calls.is_private(s, user_id, call_id)


async def _serve(
    ws: WebSocket,
    deps: WebDeps,
    user_id: int,
    call_id: str,
    audio: Subscription[bytes],
    replaced: asyncio.Event,
) -> None:
    owner = TaskOwner(f"listen:{call_id}")
    tasks = {
        owner.spawn(_renew(deps, user_id, call_id), name="renew"),
        owner.spawn(_forward(ws, audio), name="forward"),
        owner.spawn(_until_closed(ws), name="closed"),
        owner.spawn(replaced.wait(), name="replaced"),
    }
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await owner.aclose(timeout=2.0)
        if ws.client_state == WebSocketState.CONNECTED:
            with contextlib.suppress(RuntimeError, OSError):
                await ws.close()


async def _renew(deps: WebDeps, user_id: int, call_id: str) -> None:
    """Keeps the audio coming; returns (ending the socket) once the call is over."""
    assert deps.bus is not None
    while True:
        with contextlib.suppress(CommandBusError):  # a blip: the next renewal catches up
            await deps.bus.publish(call_id, Listen(seconds=LEASE))
        await asyncio.sleep(RENEW)
        if not await _may_listen(deps, user_id, call_id):
            return


async def _forward(ws: WebSocket, audio: Subscription[bytes]) -> None:
    async for message in audio:
        await ws.send_bytes(message)


async def _until_closed(ws: WebSocket) -> None:
    while (await ws.receive())["type"] != "websocket.disconnect":
        pass
