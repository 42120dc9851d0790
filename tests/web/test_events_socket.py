"""/ws/events against a real uvicorn server on port 0, with the `websockets` client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
import websockets
from sqlalchemy import update
from websockets.exceptions import InvalidStatus
from websockets.protocol import State

from common.events import TurnAdded
from database.models import AccessToken, TokenKind
from database.types import utcnow
from tests.web.conftest import Web, pending_questions, sign_up
from tests.web.seed import seed_user_data
from web_interface.live_sockets import REPLACED, REPLACED_REASON
from web_interface.security import SESSION_COOKIE
from web_interface.web_server import WebServer


@dataclass
class Live:
    web: Web
    base: str  # http://127.0.0.1:port
    ws: str  # ws://127.0.0.1:port/ws/events
    server: WebServer


@pytest.fixture
async def live(web: Web) -> AsyncIterator[Live]:
    server = WebServer(web.app, "127.0.0.1", 0)
    await server.start()
    try:
        base = f"127.0.0.1:{server.port}"
        yield Live(web, f"http://{base}", f"ws://{base}/ws/events", server)
    finally:
        await server.stop(timeout=5)


async def _cookie_for(live: Live, email: str) -> str:
    async with httpx.AsyncClient(base_url=live.base, timeout=5) as client:
        await sign_up(client, email)
        return f"{SESSION_COOKIE}={client.cookies[SESSION_COOKIE]}"


async def _receive(socket: websockets.ClientConnection) -> dict[str, object]:
    return json.loads(await asyncio.wait_for(socket.recv(), 5))


async def receive_until(socket: websockets.ClientConnection, text: str) -> None:
    for _ in range(500):
        if (await _receive(socket))["text"] == text:
            return
    raise AssertionError(f"{text!r} never arrived")


def said(text: str) -> TurnAdded:
    return TurnAdded(call_id="call-1", seq=1, speaker="agent", text=text)


async def test_a_socket_gets_its_users_events_and_never_another_users(live: Live) -> None:
    cookie_a = await _cookie_for(live, "a@example.com")
    await _cookie_for(live, "b@example.com")
    a_seeded = await seed_user_data(live.web.sessions, "a@example.com")
    a_id = a_seeded.user_id
    b_id = (await seed_user_data(live.web.sessions, "b@example.com")).user_id
    bus = live.web.bus
    async with websockets.connect(
        live.ws, additional_headers={"Cookie": cookie_a}, open_timeout=5
    ) as socket:
        # The first message: A's open question from the store, not B's.
        assert [q["request_id"] for q in await pending_questions(socket)] == [a_seeded.question_id]
        assert await bus.publish_event(b_id, said("B1")) == 0
        delivered = await bus.publish_event(a_id, said("A1"))
        await bus.publish_event(b_id, said("B2"))
        await bus.publish_event(a_id, said("A2"))
        first, second = await _receive(socket), await _receive(socket)
    assert delivered == 1  # exactly A's one socket listens on A's channel
    assert [first["text"], second["text"]] == ["A1", "A2"]
    assert first == said("A1").model_dump(mode="json")


async def _token(live: Live, email: str, scopes: list[str]) -> str:
    """An API token made in a browser session (tokens cannot make tokens)."""
    async with httpx.AsyncClient(base_url=live.base, timeout=5) as client:
        await sign_up(client, email)
        page = await client.get("/")
        csrf = page.text.split('name="csrf-token" content="')[1].split('"')[0]
        made = await client.post(
            "/api/tokens", json={"name": "ws", "scopes": scopes}, headers={"X-CSRF-Token": csrf}
        )
    assert made.status_code == 201, made.text
    return str(made.json()["token"])


async def _ticket(live: Live, token: str) -> str:
    async with httpx.AsyncClient(base_url=live.base, timeout=5) as client:
        issued = await client.post(
            "/api/events/ticket", headers={"Authorization": f"Bearer {token}"}
        )
    assert issued.status_code == 201, issued.text
    assert issued.json()["expires_in"] == 30
    return str(issued.json()["ticket"])


async def test_no_credential_in_a_url_a_single_use_ticket_opens_the_socket(
    live: Live, caplog: pytest.LogCaptureFixture
) -> None:
    """Scripts trade their token for a 30 s, single-use ticket; the token itself no longer
    opens the socket, and no URL's query string reaches the log."""
    token_a = await _token(live, "a@example.com", ["read"])
    token_b = await _token(live, "b@example.com", ["read"])
    a_id = (await seed_user_data(live.web.sessions, "a@example.com")).user_id
    b_id = (await seed_user_data(live.web.sessions, "b@example.com")).user_id
    with caplog.at_level(logging.INFO, logger="uvicorn.error"):
        ticket_a, ticket_b = await _ticket(live, token_a), await _ticket(live, token_b)
        async with (
            websockets.connect(f"{live.ws}?ticket={ticket_a}", open_timeout=5) as socket_a,
            websockets.connect(f"{live.ws}?ticket={ticket_b}", open_timeout=5) as socket_b,
        ):
            await pending_questions(socket_a)
            await pending_questions(socket_b)
            await live.web.bus.publish_event(b_id, said("for B"))
            await live.web.bus.publish_event(a_id, said("for A"))
            assert (await _receive(socket_a))["text"] == "for A"
            assert (await _receive(socket_b))["text"] == "for B"
        refused = [f"{live.ws}?ticket={ticket_a}", f"{live.ws}?token={token_a}",
                   f"{live.ws}?ticket=nope"]  # fmt: skip
        for url in refused:  # used once already; a token is no ticket; made up
            with pytest.raises(InvalidStatus) as info:
                async with websockets.connect(url, open_timeout=5):
                    pass
            assert info.value.response.status_code == 403
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "/ws/events" in logged  # uvicorn did log the sockets...
    for secret in (token_a, ticket_a, ticket_b, "?ticket", "?token"):
        assert secret not in logged  # ...without their query strings


async def test_an_expired_ticket_is_refused(live: Live) -> None:
    token = await _token(live, "a@example.com", ["read"])
    ticket = await _ticket(live, token)
    async with live.web.sessions() as s, s.begin():
        await s.execute(
            update(AccessToken)
            .where(AccessToken.kind == TokenKind.WS_TICKET)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    with pytest.raises(InvalidStatus) as info:
        async with websockets.connect(f"{live.ws}?ticket={ticket}", open_timeout=5):
            pass
    assert info.value.response.status_code == 403


async def test_at_most_n_live_sockets_per_user(live: Live) -> None:
    """The sixth page of one person closes their oldest, which is told why; another
    person's page is not touched."""
    cookie_a = await _cookie_for(live, "a@example.com")
    cookie_b = await _cookie_for(live, "b@example.com")
    a_id = (await seed_user_data(live.web.sessions, "a@example.com")).user_id
    assert live.web.deps.sockets.per_user == 5
    async with contextlib.AsyncExitStack() as stack:
        b_socket = await stack.enter_async_context(
            websockets.connect(live.ws, additional_headers={"Cookie": cookie_b})
        )
        a_sockets = [
            await stack.enter_async_context(
                websockets.connect(live.ws, additional_headers={"Cookie": cookie_a})
            )
            for _ in range(6)
        ]
        for socket in a_sockets[1:]:
            await pending_questions(socket)
        await pending_questions(a_sockets[0])  # sent before the sixth replaced it
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(a_sockets[0].recv(), 5)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == REPLACED
        assert closed.value.rcvd.reason == REPLACED_REASON
        for _ in range(100):  # the server drops the oldest's subscription asynchronously
            if await live.web.bus.publish_event(a_id, said("count")) == 5:
                break
            await asyncio.sleep(0.02)
        assert await live.web.bus.publish_event(a_id, said("to the five")) == 5
        for socket in a_sockets[1:]:
            await receive_until(socket, "to the five")  # after any of the counting pings
        assert b_socket.state is State.OPEN


async def test_sockets_without_a_valid_login_or_from_another_site_are_refused(
    live: Live,
) -> None:
    cookie = await _cookie_for(live, "a@example.com")
    attempts = [
        {},
        {"Cookie": f"{SESSION_COOKIE}=forged.0000"},
        {"Cookie": cookie, "Origin": "http://evil.example"},
    ]
    for headers in attempts:
        with pytest.raises(InvalidStatus) as refused:
            async with websockets.connect(live.ws, additional_headers=headers, open_timeout=5):
                pass
        assert refused.value.response.status_code == 403, headers
    # The browser's own origin is fine.
    origin = live.base
    async with websockets.connect(
        live.ws, additional_headers={"Cookie": cookie, "Origin": origin}, open_timeout=5
    ):
        pass


async def test_the_subscription_ends_when_the_client_leaves(live: Live) -> None:
    cookie = await _cookie_for(live, "a@example.com")
    user_id = (await seed_user_data(live.web.sessions, "a@example.com")).user_id
    async with websockets.connect(live.ws, additional_headers={"Cookie": cookie}):
        assert await live.web.bus.publish_event(user_id, said("ping")) == 1
    for _ in range(100):  # the server notices the close asynchronously
        if await live.web.bus.publish_event(user_id, said("ping")) == 0:
            break
        await asyncio.sleep(0.02)
    assert await live.web.bus.publish_event(user_id, said("ping")) == 0


async def test_stopping_the_server_closes_open_sockets_and_their_subscriptions(
    live: Live,
) -> None:
    cookie = await _cookie_for(live, "a@example.com")
    user_id = (await seed_user_data(live.web.sessions, "a@example.com")).user_id
    async with websockets.connect(live.ws, additional_headers={"Cookie": cookie}) as socket:
        await pending_questions(socket)
        await asyncio.wait_for(live.server.stop(timeout=3), 5)
        assert not live.server.running
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(socket.recv(), 5)
    assert await live.web.bus.publish_event(user_id, said("ping")) == 0
