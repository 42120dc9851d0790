"""Open pages cannot starve anyone: 200 live sockets of one person over real Redis.

Before, every /ws/events socket held a Redis connection of its own from the bus's one
pool of 100; one account's pages took them all, and other people's sockets, their answers
to the agent and new calls' command subscriptions failed (issue 13).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
import redis.asyncio as aioredis
import websockets

from common.command_bus import RedisCommandBus
from common.commands import FeedbackAnswer
from common.events import TurnAdded
from tests.web.conftest import Web, pending_questions, refresh_csrf, sign_up
from tests.web.seed import seed_user_data
from web_interface.security import SESSION_COOKIE
from web_interface.web_server import WebServer

pytestmark = pytest.mark.redis
PAGES = 200


@pytest.fixture
async def redis_web(make_web: Callable[..., Web], redis_url: str) -> AsyncIterator[Web]:
    bus = RedisCommandBus(redis_url)
    # A limit above PAGES, so all 200 stay open: what is tested is the sharing.
    web = make_web(bus=bus, max_sockets_per_user=PAGES + 10)
    yield web
    await bus.aclose()


@pytest.fixture
async def base(redis_web: Web) -> AsyncIterator[str]:
    server = WebServer(redis_web.app, "127.0.0.1", 0)
    await server.start()
    try:
        yield f"127.0.0.1:{server.port}"
    finally:
        await server.stop(timeout=10)


def turn(text: str) -> TurnAdded:
    return TurnAdded(call_id="c", seq=1, speaker="agent", text=text)


async def test_one_users_200_sockets_do_not_stop_another_users_socket_answer_or_call(
    redis_web: Web, base: str, redis_url: str
) -> None:
    bus = redis_web.bus
    assert isinstance(bus, RedisCommandBus)
    async with (
        httpx.AsyncClient(base_url=f"http://{base}", timeout=10) as a,
        httpx.AsyncClient(base_url=f"http://{base}", timeout=10) as b,
    ):
        await sign_up(a, "a@example.com")
        await sign_up(b, "b@example.com")
        await refresh_csrf(b)
        a_id = (await seed_user_data(redis_web.sessions, "a@example.com")).user_id
        b_seeded = await seed_user_data(redis_web.sessions, "b@example.com")
        cookie_a = {"Cookie": f"{SESSION_COOKIE}={a.cookies[SESSION_COOKIE]}"}
        cookie_b = {"Cookie": f"{SESSION_COOKIE}={b.cookies[SESSION_COOKIE]}"}
        url = f"ws://{base}/ws/events"
        async with contextlib.AsyncExitStack() as pages:
            a_pages = [
                await pages.enter_async_context(
                    websockets.connect(url, additional_headers=cookie_a, open_timeout=10)
                )
                for _ in range(PAGES)
            ]
            for page in a_pages:
                await pending_questions(page)
            assert await bus.publish_event(a_id, turn("to every page of A")) == 1  # 1 process
            for page in a_pages:
                assert json.loads(await asyncio.wait_for(page.recv(), 5))["text"] == (
                    "to every page of A"
                )
            async with (
                websockets.connect(url, additional_headers=cookie_b, open_timeout=10) as b_page,
                bus.subscribe(b_seeded.call_id) as call_commands,  # what a live call holds
            ):
                await pending_questions(b_page)
                assert await bus.publish_event(b_seeded.user_id, turn("for B")) == 1
                received = json.loads(await asyncio.wait_for(b_page.recv(), 5))
                answered = await b.post(
                    f"/api/feedback/{b_seeded.question_id}/answer", json={"answer": "Yes"}
                )
                command = await asyncio.wait_for(anext(call_commands), 5)
                connections = await _subscribed_connections(redis_url, bus)
    assert received["text"] == "for B"
    assert answered.status_code == 200, answered.text
    assert answered.json()["delivered"] is True
    assert command == FeedbackAnswer(request_id=b_seeded.question_id, answer="Yes")
    # 201 pages on one connection; the call's subscription on its own.
    assert connections == {bus.events_client_name: 1, bus.client_name: 1}


async def _subscribed_connections(redis_url: str, bus: RedisCommandBus) -> dict[str, int]:
    client = aioredis.Redis.from_url(redis_url)
    try:
        listed = await client.client_list()
    finally:
        await client.aclose()
    counts: dict[str, int] = {}
    for c in listed:
        if c["name"].startswith(bus.client_name) and int(c["sub"]) > 0:
            counts[c["name"]] = counts.get(c["name"], 0) + 1
    return counts
