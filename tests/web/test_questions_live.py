"""A question the agent asks cannot be missed: /ws/events against a real uvicorn server and
Redis, the question asked by the call's own tool host (call_processor/call_tools.py).

A live event reaches only whoever listens when it is published, so every socket's first
message lists the questions still waiting (read from the store after it subscribed); a
question answered or expired is announced as closed to every open page.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from fastapi import FastAPI
from playwright.async_api import Browser, Route, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from call_processor.call_tools import CallToolHost
from call_processor.dead_calls import close_dead_call
from common.command_bus import RedisCommandBus
from common.event_relay import EventRelay
from common.events import FeedbackRequested, NotificationSent
from common.health import HealthRegistry
from common.metrics import PlatformMetrics
from database.engine import create_engine_for, session_factory
from database.migrate import upgrade_engine
from database.repositories import calls, feedback
from database.states import FeedbackStatus
from database.types import utcnow
from task_manager.lifecycle_manager import TaskLifecycleManagerService
from task_manager.notifier import Notifier
from task_manager.post_call_analyzer import PostCallAnalyzer
from tests.web.conftest import PASSWORD, pending_questions, refresh_csrf, sign_up
from tests.web.seed import Seeded, seed_user_data
from web_interface.app import create_app
from web_interface.deps import WebDeps
from web_interface.security import SESSION_COOKIE
from web_interface.web_server import WebServer

pytestmark = pytest.mark.redis
QUESTION = "May I give them your date of birth?"


@dataclass
class Site:
    app: FastAPI
    sessions: async_sessionmaker[AsyncSession]
    bus: RedisCommandBus
    base: str = ""  # http://127.0.0.1:port
    ws: str = ""  # ws://127.0.0.1:port/ws/events

    def at(self, port: int) -> None:
        self.base, self.ws = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws/events"


@contextlib.asynccontextmanager
async def platform_like(data_dir: Path, redis_url: str) -> AsyncIterator[Site]:
    """The web app as launcher/platform.py builds it: Redis, and sessions whose committed
    transactions hand their queued live events to a running relay."""
    engine = create_engine_for(None, data_dir)
    await upgrade_engine(engine)
    bus, relay = RedisCommandBus(redis_url), EventRelay()
    sessions = session_factory(engine, after_commit=relay.put)
    await relay.start(bus)
    deps = WebDeps(
        HealthRegistry(), PlatformMetrics(), sessions, bus,
        secret_key=b"k" * 32, session_lifetime=timedelta(hours=1),
    )  # fmt: skip
    try:
        yield Site(create_app(deps), sessions, bus)
    finally:
        await relay.stop()
        await bus.aclose()
        await engine.dispose()


@pytest.fixture
async def site(tmp_path: Path, redis_url: str) -> AsyncIterator[Site]:
    async with platform_like(tmp_path, redis_url) as built:
        server = WebServer(built.app, "127.0.0.1", 0)
        await server.start()
        built.at(server.port)
        try:
            yield built
        finally:
            await server.stop(timeout=5)


@contextlib.asynccontextmanager
async def person(site: Site, email: str) -> AsyncIterator[tuple[httpx.AsyncClient, Seeded]]:
    """A signed-in person (CSRF header set, as app.js sends it) with a call of theirs."""
    async with httpx.AsyncClient(base_url=site.base, timeout=10) as client:
        await sign_up(client, email)
        seeded = await seed_user_data(site.sessions, email)
        await refresh_csrf(client)
        yield client, seeded


def page_socket(site: Site, client: httpx.AsyncClient) -> websockets.connect:
    cookie = f"{SESSION_COOKIE}={client.cookies[SESSION_COOKIE]}"
    return websockets.connect(site.ws, additional_headers={"Cookie": cookie}, open_timeout=5)


def the_agent(site: Site, seeded: Seeded, timeout: float = 30.0) -> CallToolHost:
    return CallToolHost(
        sessions=site.sessions, bus=site.bus, user_id=seeded.user_id,
        call_id=seeded.call_id, task_id=seeded.task_id, feedback_timeout=timeout,
    )  # fmt: skip


async def ask(tools: CallToolHost) -> asyncio.Task[str]:
    """The agent asks (its tool call waits for the answer); returns once the row is stored."""
    asking = asyncio.ensure_future(tools.call_tool("request_user_feedback", {"question": QUESTION}))
    async with asyncio.timeout(5):
        while not await asked_row(tools):  # noqa: ASYNC110 - a row, not an event
            await asyncio.sleep(0.02)
    return asking


async def asked_row(tools: CallToolHost) -> int | None:
    async with tools.sessions() as s:
        rows = await feedback.list_open(s, user_id=tools.user_id, call_id=tools.call_id)
    return next((r.id for r in rows if r.question == QUESTION), None)


async def next_message(socket: websockets.ClientConnection) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(socket.recv(), 5))


@contextlib.asynccontextmanager
async def call_listening(site: Site, tools: CallToolHost) -> AsyncIterator[None]:
    """What the call's command loop does: hand the commands on its channel to its tools."""
    async with site.bus.subscribe(tools.call_id) as commands:

        async def hand_on() -> None:
            async for command in commands:
                await tools.on_command(command)

        loop = asyncio.ensure_future(hand_on())
        try:
            yield
        finally:
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop


async def test_a_question_asked_while_no_page_listens_is_sent_when_one_opens(site: Site) -> None:
    async with person(site, "ann@example.com") as (client, seeded):
        tools = the_agent(site, seeded)
        async with call_listening(site, tools):
            asking = await ask(tools)  # announced live to nobody: no page is open
            request_id = await asked_row(tools)
            async with page_socket(site, client) as page, page_socket(site, client) as other:
                pending = await pending_questions(page)
                assert [(q["request_id"], q["question"], q["call_id"]) for q in pending] == [
                    (seeded.question_id, "Is Tuesday at 10 fine?", seeded.call_id),
                    (request_id, QUESTION, seeded.call_id),
                ]
                assert pending[1]["expires_at"] is not None
                assert await pending_questions(other) == pending

                # The same question published again (it was being announced as the
                # socket opened) is not sent a second time; what follows it is.
                row = FeedbackRequested.model_validate(pending[1])
                await site.bus.publish_event(seeded.user_id, row)
                marker = NotificationSent(kind="test", subject="after the repeat")
                await site.bus.publish_event(seeded.user_id, marker)
                assert (await next_message(page))["subject"] == "after the repeat"

                answered = await client.post(
                    f"/api/feedback/{request_id}/answer", json={"answer": "Yes"}
                )
                assert answered.status_code == 200, answered.text
                assert answered.json()["delivered"] is True
                result = json.loads(await asyncio.wait_for(asking, 5))
                closed = {"type": "feedback_closed", "request_id": request_id, "status": "answered"}
                assert await next_message(page) == closed
                assert (await next_message(other))["subject"] == "after the repeat"
                assert await next_message(other) == closed  # every open page is told
            async with page_socket(site, client) as later:
                left = await pending_questions(later)
    assert result == {"answered": True, "answer": "Yes"}  # the agent got the answer
    assert [q["request_id"] for q in left] == [seeded.question_id]


async def test_an_expired_question_leaves_every_page_and_is_not_sent_again(site: Site) -> None:
    async with person(site, "ann@example.com") as (client, seeded):
        async with site.sessions() as s, s.begin():  # past its deadline, not yet swept
            await feedback.create(
                s, user_id=seeded.user_id, call_id=seeded.call_id, question="Too late?",
                expires_at=utcnow() - timedelta(seconds=1),
            )  # fmt: skip
        tools = the_agent(site, seeded, timeout=1.0)
        async with page_socket(site, client) as page:
            assert [q["question"] for q in await pending_questions(page)] == [
                "Is Tuesday at 10 fine?"
            ]
            asking = await ask(tools)
            request_id = await asked_row(tools)
            asked = await next_message(page)
            assert (asked["type"], asked["request_id"]) == ("feedback_request", request_id)
            result = json.loads(await asyncio.wait_for(asking, 5))  # nobody answers
            closed = await next_message(page)
        async with site.sessions() as s:
            assert request_id is not None
            row = await feedback.get(s, user_id=seeded.user_id, request_id=request_id)
        refused = await client.post(f"/api/feedback/{request_id}/answer", json={"answer": "Yes"})
        async with page_socket(site, client) as later:
            left = await pending_questions(later)
    assert result["answered"] is False
    assert closed == {"type": "feedback_closed", "request_id": request_id, "status": "expired"}
    assert row is not None
    assert row.status == FeedbackStatus.EXPIRED
    assert refused.status_code == 409
    assert [q["request_id"] for q in left] == [seeded.question_id]


async def test_the_sweep_and_the_close_of_a_dead_call_take_questions_off_every_page(
    site: Site,
) -> None:
    """Expired by the lifecycle manager (its deadline passed with nobody to expire it) or
    with the call a dead process left: announced after the commit all the same."""
    sweep = TaskLifecycleManagerService(
        sessions=site.sessions, analyzer=PostCallAnalyzer(site.sessions),
        notifier=Notifier(site.sessions), node_id="sweeper",
    )  # fmt: skip
    async with person(site, "ann@example.com") as (client, seeded):
        async with site.sessions() as s, s.begin():
            late = await feedback.create(
                s, user_id=seeded.user_id, call_id=seeded.call_id, question="Too late?",
                expires_at=utcnow() + timedelta(seconds=60),
            )  # fmt: skip
        async with page_socket(site, client) as page:
            pending = await pending_questions(page)
            assert [q["request_id"] for q in pending] == [seeded.question_id, late.id]
            assert await sweep.expire_questions(utcnow() + timedelta(seconds=90)) == 1
            swept = await next_message(page)
            async with site.sessions() as s, s.begin():
                call = await calls.get(s, user_id=seeded.user_id, call_id=seeded.call_id)
                assert call is not None
                await close_dead_call(s, call, utcnow())
            dead = await next_message(page)
    assert swept == {"type": "feedback_closed", "request_id": late.id, "status": "expired"}
    assert dead == {
        "type": "feedback_closed",
        "request_id": seeded.question_id,
        "status": "expired",
    }


async def test_a_page_only_ever_gets_its_own_persons_questions(site: Site) -> None:
    async with (
        person(site, "ann@example.com") as (_, ann),
        person(site, "bob@example.com") as (bob_client, bob),
    ):
        asking = await ask(the_agent(site, ann))
        async with page_socket(site, bob_client) as bob_page:
            assert [q["request_id"] for q in await pending_questions(bob_page)] == [bob.question_id]
        asking.cancel()  # the call ended while it waited: the question expires
        with contextlib.suppress(asyncio.CancelledError):
            await asking
        async with site.sessions() as s:
            open_rows = await feedback.list_open(s, user_id=ann.user_id, call_id=ann.call_id)
    assert [r.question for r in open_rows] == ["Is Tuesday at 10 fine?"]


async def test_in_the_browser_a_question_asked_before_the_socket_opened_is_shown_and_answered(
    site: Site, browser: Browser
) -> None:
    """A phone-sized page (390 px) whose script is held back while the agent asks, and a
    second page of the same person: the question shows on both, is answered on one, the
    agent gets the answer, and it leaves the other page (its card on /notifications too)."""
    phone = await browser.new_context(viewport={"width": 390, "height": 844})
    page, other = await phone.new_page(), await phone.new_page()
    await page.goto(f"{site.base}/signup")
    await page.get_by_label("Email").fill("ann@example.com")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    seeded = await seed_user_data(site.sessions, "ann@example.com")
    tools = the_agent(site, seeded)

    rendered, asked = asyncio.Event(), asyncio.Event()

    async def hold_the_script(route: Route) -> None:  # rendered, but no socket yet
        rendered.set()
        await asked.wait()
        await route.continue_()

    await page.route("**/static/app.js", hold_the_script)
    async with call_listening(site, tools):
        loading = asyncio.ensure_future(page.goto(f"{site.base}/"))
        await asyncio.wait_for(rendered.wait(), 10)
        asking = await ask(tools)  # announced while this page has no socket
        request_id = await asked_row(tools)
        await other.goto(f"{site.base}/notifications")
        card = other.locator(f'[data-question-card="{request_id}"]')
        await expect(card.get_by_text(QUESTION)).to_be_visible()
        other_prompt = other.locator(f'form[data-request-id="{request_id}"]')
        await expect(other_prompt.get_by_text(QUESTION)).to_be_visible()

        asked.set()
        await loading
        prompt = page.locator(f'form[data-request-id="{request_id}"]')
        await expect(prompt.get_by_text(QUESTION)).to_be_visible()
        await expect(prompt.get_by_role("button", name="Send answer")).to_be_in_viewport()
        await prompt.get_by_role("button", name="Yes").click()
        await prompt.get_by_role("button", name="Send answer").click()
        await expect(prompt.get_by_text("Sent to the call.")).to_be_visible()
        result = json.loads(await asyncio.wait_for(asking, 5))
        await expect(card).to_have_count(0)
        await expect(other_prompt).to_have_count(0, timeout=10_000)
        await expect(prompt).to_have_count(0, timeout=10_000)
    await phone.close()
    assert result == {"answered": True, "answer": "Yes"}


async def test_in_the_browser_a_reconnecting_page_catches_up_on_the_questions(
    tmp_path: Path, redis_url: str, browser: Browser
) -> None:
    """The server goes away and comes back (a restart): meanwhile a question is answered
    elsewhere (its announcement lost) and another is asked. The page's socket re-opens by
    itself and then shows exactly the questions still waiting."""
    async with platform_like(tmp_path, redis_url) as site:
        await reconnecting_page(site, browser)


async def reconnecting_page(site: Site, browser: Browser) -> None:
    server = WebServer(site.app, "127.0.0.1", 0)
    await server.start()
    port = server.port
    site.at(port)
    page = await browser.new_page()
    try:
        await page.goto(f"{site.base}/signup")
        await page.get_by_label("Email").fill("ann@example.com")
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Create account").click()
        seeded = await seed_user_data(site.sessions, "ann@example.com")
        await page.goto(f"{site.base}/")
        answered_away = page.locator(f'form[data-request-id="{seeded.question_id}"]')
        await expect(answered_away).to_be_visible()

        await server.stop(timeout=5)  # the page's socket closes; it keeps trying
        async with site.sessions() as s, s.begin():  # announced to no page: none is open
            assert await feedback.answer(
                s, user_id=seeded.user_id, request_id=seeded.question_id, answer="Yes"
            )
        asking = await ask(the_agent(site, seeded))
        request_id = await asked_row(the_agent(site, seeded))
        server = WebServer(site.app, "127.0.0.1", port)
        await server.start()

        await expect(page.locator(f'form[data-request-id="{request_id}"]')).to_be_visible(
            timeout=15_000
        )
        await expect(answered_away.get_by_text("answered elsewhere or has expired")).to_be_visible()
        await expect(answered_away).to_have_count(0)
        asking.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asking
    finally:
        await page.close()
        await server.stop(timeout=5)
