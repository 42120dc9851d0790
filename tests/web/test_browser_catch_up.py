"""A live call's page catches up once its socket listens: what happened between the page's
rendering and its socket opening (no event is replayed) still shows, so a page reloaded
right after a hang-up does not keep offering to hang up a call that is over."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Route, expect

from database.repositories import calls, turns, users
from database.states import CallStatus, Speaker
from tests.web.conftest import PASSWORD, Web
from web_interface.web_server import WebServer


@pytest.fixture
async def base_url(web: Web) -> AsyncIterator[str]:
    server = WebServer(web.app, "127.0.0.1", 0)
    await server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.stop(timeout=5)


async def test_the_call_page_reads_what_it_missed_before_its_socket_opened(
    web: Web, base_url: str, browser: Browser
) -> None:
    page = await browser.new_page()
    await page.goto(f"{base_url}/signup")
    await page.get_by_label("Email").fill("ann@example.com")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    call_id = str(uuid.uuid4())
    async with web.sessions() as s, s.begin():
        user = await users.get_by_email(s, "ann@example.com")
        assert user is not None
        await calls.create_dialing(s, user_id=user.id, call_id=call_id, phone_number="+14155550101")
        await calls.update(s, user_id=user.id, call_id=call_id, status=CallStatus.ANSWERED)

    rendered = asyncio.Event()
    changed = asyncio.Event()

    async def hold_the_script(route: Route) -> None:  # the page is rendered, its JS not run
        rendered.set()
        await changed.wait()
        await route.continue_()

    await page.route("**/static/app.js", hold_the_script)
    loading = asyncio.ensure_future(page.goto(f"{base_url}/calls/{call_id}"))
    await asyncio.wait_for(rendered.wait(), 10)
    async with web.sessions() as s, s.begin():  # written, and no event published for it
        await turns.append(s, user_id=user.id, call_id=call_id, speaker=Speaker.CALLEE,
                           text="Sorry, wrong number.")  # fmt: skip
        await calls.update(s, user_id=user.id, call_id=call_id, status=CallStatus.COMPLETED)
    changed.set()
    await loading
    await expect(page.locator("#transcript").get_by_text("Sorry, wrong number.")).to_be_visible()
    await expect(page.locator("#call-status")).to_have_text("completed")
    await expect(page.get_by_role("button", name="Hang up")).to_have_count(0)
