"""/ws/events against a real uvicorn server on port 0, with the `websockets` client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from common.events import TurnAdded
from tests.web.conftest import Web, sign_up
from tests.web.seed import seed_user_data
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


def said(text: str) -> TurnAdded:
    return TurnAdded(call_id="call-1", seq=1, speaker="agent", text=text)


async def test_a_socket_gets_its_users_events_and_never_another_users(live: Live) -> None:
    cookie_a = await _cookie_for(live, "a@example.com")
    await _cookie_for(live, "b@example.com")
    a_id = (await seed_user_data(live.web.sessions, "a@example.com")).user_id
    b_id = (await seed_user_data(live.web.sessions, "b@example.com")).user_id
    bus = live.web.bus
    async with websockets.connect(
        live.ws, additional_headers={"Cookie": cookie_a}, open_timeout=5
    ) as socket:
        assert await bus.publish_event(b_id, said("B1")) == 0
        delivered = await bus.publish_event(a_id, said("A1"))
        await bus.publish_event(b_id, said("B2"))
        await bus.publish_event(a_id, said("A2"))
        first, second = await _receive(socket), await _receive(socket)
    assert delivered == 1  # exactly A's one socket listens on A's channel
    assert [first["text"], second["text"]] == ["A1", "A2"]
    assert first == said("A1").model_dump(mode="json")


async def test_an_api_token_in_the_query_opens_the_socket(live: Live) -> None:
    async with httpx.AsyncClient(base_url=live.base, timeout=5) as client:
        await sign_up(client, "a@example.com")
        page = await client.get("/")
        token_header = page.text.split('name="csrf-token" content="')[1].split('"')[0]
        made = await client.post(
            "/api/tokens", json={"name": "ws"}, headers={"X-CSRF-Token": token_header}
        )
    token = made.json()["token"]
    user_id = (await seed_user_data(live.web.sessions, "a@example.com")).user_id
    async with websockets.connect(f"{live.ws}?token={token}", open_timeout=5) as socket:
        await live.web.bus.publish_event(user_id, said("hi"))
        assert (await _receive(socket))["text"] == "hi"


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
    with pytest.raises(InvalidStatus):
        async with websockets.connect(f"{live.ws}?token=odt_nope", open_timeout=5):
            pass
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
        await asyncio.wait_for(live.server.stop(timeout=3), 5)
        assert not live.server.running
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(socket.recv(), 5)
    assert await live.web.bus.publish_event(user_id, said("ping")) == 0
