"""A live call's page grows as the call goes on, in Debian's Chromium, on the real Asterisk
sandbox with the AI agent (the strict fake Realtime server).

The page is opened while the call rings, so everything after is live: the agent's turns,
the timeline's events (in order, each once, as the database has them), the agent's question
(shown again after a reload, answered from the page, the answer reaching the model), and
at the end the page says the call is over. At a phone's width (390 px); screenshots go to
test-artifacts/screenshots/call_page_live/ (not committed).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from database.repositories import calls
from tests.agent.conftest import AgentStack, agent_stack
from tests.realtime.conftest import ulaw_tone
from tests.support.fake_realtime import CallFunction, FakeRealtimeServer, Response, Say, Script
from tests.support.sandbox import Sandbox
from tests.web.test_browser_listen import ring_late_speaker

pytestmark = pytest.mark.sandbox

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots" / "call_page_live"

GREETING = "Hello, I am calling about a cleaning appointment."
QUESTION = "Is Tuesday at 3 pm fine for you?"
BOOKED = "Tuesday at 3 works, thank you."


async def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SHOTS / f"{name}.png", full_page=True)


async def stored_event_ids(stack: AgentStack, user_id: int, call_id: str) -> list[str]:
    async with stack.sessions() as s:
        return [str(e.id) for e in await calls.list_events(s, user_id=user_id, call_id=call_id)]


async def shown_event_ids(page: Page) -> list[str]:
    ids: list[str] = await page.locator("#timeline li[data-event-id]").evaluate_all(
        "(items) => items.map((item) => item.dataset.eventId)"
    )
    return ids


async def test_a_live_call_page_shows_turns_events_the_question_and_the_end_as_they_happen(
    asterisk_sandbox: Sandbox, tmp_path: Path, browser: Browser
) -> None:
    script = Script(
        [
            Response([Say(ulaw_tone(400), GREETING),
                      CallFunction("request_user_feedback", {"question": QUESTION})]),
            Response([Say(ulaw_tone(400), BOOKED),
                      CallFunction("end_call", {"outcome": "success", "summary": "Tuesday"})]),
        ]
    )  # fmt: skip
    async with (
        FakeRealtimeServer(script, vad_threshold=1e9) as fake,
        agent_stack(asterisk_sandbox, tmp_path, fake, web=True, feedback_timeout=60) as stack,
    ):
        base = f"http://127.0.0.1:{stack.web_port}"
        context = await browser.new_context(viewport={"width": 390, "height": 844})
        page = await context.new_page()
        ringing = await ring_late_speaker(stack, page, asterisk_sandbox)
        ann, handed, call_id = ringing.user_id, ringing.handed, ringing.call_id

        await page.goto(f"{base}/calls/{call_id}")  # while it rings (3 s)
        assert await page.locator("#transcript li").count() == 0  # nothing said at load
        await expect(page.locator("#call-ended")).to_be_hidden()

        said = page.locator("#transcript li.turn.agent", has_text=GREETING)
        await expect(said).to_have_count(1, timeout=20_000)  # spoken after the page loaded
        await expect(page.locator("#timeline li", has_text="answered")).to_have_count(1)
        prompt = page.locator("form[data-question]", has_text=QUESTION)
        await expect(prompt).to_be_visible(timeout=10_000)
        await shot(page, "01-asked")

        # A reload (a new socket) shows the question still waiting, and the page as stored.
        await page.reload()
        await expect(prompt).to_be_visible()
        await expect(said).to_have_count(1)
        await prompt.get_by_label("Your answer").fill("Yes, Tuesday at 3 is fine.")
        await prompt.get_by_role("button", name="Send answer").click()
        await expect(prompt.get_by_text("Sent to the call.")).to_be_visible()

        await expect(page.locator("#transcript li.turn.agent", has_text=BOOKED)).to_have_count(
            1, timeout=20_000
        )
        await expect(page.locator("#call-ended")).to_be_visible(timeout=20_000)
        await expect(page.locator("#call-status")).to_have_text("completed")
        await expect(page.locator("#call-controls")).to_have_count(0)
        finished = await asyncio.wait_for(handed, 30)
        shown: list[str] = []
        stored = await stored_event_ids(stack, ann, call_id)
        async with asyncio.timeout(10):  # the last events (hang-up) may still be arriving
            while shown != stored:
                await asyncio.sleep(0.1)
                shown = await shown_event_ids(page)
                stored = await stored_event_ids(stack, ann, call_id)
        assert len(set(shown)) == len(shown) > 3  # dialing to hang-up, each event once
        await expect(page.locator("#transcript li")).to_have_count(2)  # each turn once
        await shot(page, "02-ended")
        await context.close()

    [output] = [
        e.event["item"]["output"]
        for e in fake.received("conversation.item.create")
        if e.event["item"]["type"] == "function_call_output"
    ]
    assert "Yes, Tuesday at 3 is fine." in output  # the model got the person's answer
    assert finished.answered
