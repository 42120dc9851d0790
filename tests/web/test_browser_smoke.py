"""Playwright smoke test in Debian's Chromium: sign up, see the dashboard, answer a question.

Drives the real app on a real uvicorn server. The question arrives over the WebSocket
while the page is open and must be on screen within 1 s (the issue's bound). Screenshots
of each step go to test-artifacts/screenshots/web_smoke/ (ignored by git).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from common.commands import FeedbackAnswer
from common.events import FeedbackRequested, NotificationSent, TurnAdded
from database.repositories import feedback
from database.types import utcnow
from tests.web.conftest import PASSWORD, Web
from tests.web.seed import seed_user_data
from web_interface.web_server import WebServer

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots" / "web_smoke"


@pytest.fixture
async def base_url(web: Web) -> AsyncIterator[str]:
    server = WebServer(web.app, "127.0.0.1", 0)
    await server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.stop(timeout=5)


async def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SHOTS / f"{name}.png", full_page=True)


async def wait_for_socket(web: Web, user_id: int) -> None:
    """The page's WebSocket is subscribed once a published event has a receiver."""
    for _ in range(250):
        if await web.bus.publish_event(user_id, NotificationSent(kind="test", subject="")) > 0:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the page never opened its event socket")


async def test_sign_up_dashboard_and_answer_a_live_question(
    web: Web, base_url: str, browser: Browser
) -> None:
    page = await browser.new_page()
    await page.goto(f"{base_url}/")
    await expect(
        page.get_by_role("heading", name="OpenDeep makes your phone calls")
    ).to_be_visible()
    await page.get_by_role("link", name="Create an account").click()
    await page.get_by_label("Your name").fill("Ann")
    await page.get_by_label("Email").fill("ann@example.com")
    await page.get_by_label("Password").fill(PASSWORD)
    await shot(page, "01-signup")
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    seeded = await seed_user_data(web.sessions, "ann@example.com")
    await page.reload()
    await expect(page.get_by_text("Dentists for ann@example.com")).to_be_visible()
    await expect(page.get_by_text("0/2 done")).to_be_visible()
    # The seeded question was open before the page loaded: in its socket's first message.
    await expect(page.get_by_text("Is Tuesday at 10 fine?")).to_be_visible()
    await shot(page, "02-dashboard")

    await wait_for_socket(web, seeded.user_id)
    async with web.sessions() as s, s.begin():
        live = await feedback.create(
            s,
            user_id=seeded.user_id,
            call_id=seeded.call_id,
            question="May I give them your date of birth?",
            expires_at=utcnow() + timedelta(seconds=60),
        )
    assert live.expires_at is not None
    event = FeedbackRequested(request_id=live.id, call_id=seeded.call_id,
                              question=live.question, expires_at=live.expires_at)  # fmt: skip
    async with web.bus.subscribe(seeded.call_id) as commands:
        await web.bus.publish_event(seeded.user_id, event)
        prompt = page.locator(f'form[data-request-id="{live.id}"]')
        await expect(prompt.get_by_text(live.question)).to_be_visible(timeout=1000)
        await expect(prompt.get_by_text("s left")).to_be_visible()
        await shot(page, "03-question")
        await prompt.get_by_role("button", name="Yes").click()
        await prompt.get_by_role("button", name="Send answer").click()
        command = await asyncio.wait_for(anext(commands), 5)
        await expect(prompt.get_by_text("Sent to the call.")).to_be_visible()
        await shot(page, "04-answered")
    assert command == FeedbackAnswer(request_id=live.id, answer="Yes")

    await page.goto(f"{base_url}/calls/{seeded.call_id}")
    await expect(page.get_by_text("Dental office")).to_be_visible()
    await wait_for_socket(web, seeded.user_id)
    turn = TurnAdded(call_id=seeded.call_id, seq=3, speaker="callee", text="We can do Tuesday.")
    await web.bus.publish_event(seeded.user_id, turn)
    await web.bus.publish_event(seeded.user_id, turn)  # a repeat is not shown twice
    after = turn.model_copy(update={"seq": 4, "speaker": "agent", "text": "Great, booked."})
    await web.bus.publish_event(seeded.user_id, after)
    await expect(
        page.locator("#transcript li.turn.agent", has_text="Great, booked.")
    ).to_be_visible()
    streamed = page.locator("#transcript li.turn.callee", has_text="We can do Tuesday.")
    await expect(streamed).to_have_count(1)
    await shot(page, "05-call")
