"""Live listening end to end: a person's page listens to their own call on the real
Asterisk, and the AudioWorklet gets the far end's first word within 500 ms of it being
spoken (the far end's own timestamp, taken just before it speaks). Nobody else may listen,
and listening changes nothing about the call."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from call_processor.finished_call import FinishedCall
from database.repositories import calls, users
from task_manager.call_launcher import PlannedCall
from task_manager.initiator_launcher import InitiatorLauncher
from tests.calls.conftest import CallStack, call_stack
from tests.support import sandbox as sb
from tests.support.sandbox import Sandbox
from tests.task_manager.helpers import add_task
from tests.web.conftest import PASSWORD

pytestmark = pytest.mark.sandbox

OPENS = """(url) => new Promise((resolve) => {
  const socket = new WebSocket(url);
  socket.onopen = () => { socket.close(); resolve("open"); };
  socket.onclose = () => resolve("refused");
})"""


async def sign_up_in(page: Page, base_url: str, email: str) -> int:
    await page.goto(f"{base_url}/signup")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    return 0


async def user_id_of(stack: CallStack, email: str) -> int:
    async with stack.sessions() as s:
        user = await users.get_by_email(s, email)
    assert user is not None
    return user.id


async def launch(stack: CallStack, user_id: int, number: str) -> asyncio.Future[FinishedCall]:
    task = await add_task(stack.sessions, user_id, number, objective="book a visit")
    handed: asyncio.Future[FinishedCall] = asyncio.get_running_loop().create_future()

    async def on_done(_call: PlannedCall, finished: FinishedCall) -> None:
        handed.set_result(finished)

    InitiatorLauncher(stack.initiator, 1).launch(PlannedCall(user_id, task.id, number, 1), on_done)
    return handed


async def first_call_id(stack: CallStack, user_id: int) -> str:
    async with asyncio.timeout(10):
        while True:
            async with stack.sessions() as s:
                found = await calls.list_for_user(s, user_id=user_id, limit=1)
            if found:
                return found[0].id
            await asyncio.sleep(0.05)


@dataclass
class RingingCall:
    """A person's call to the sandbox's late speaker (rings 3 s, then speaks)."""

    user_id: int
    token: str  # the far end's token: its marks say when it spoke
    handed: asyncio.Future[FinishedCall]  # the call's end
    call_id: str


async def ring_late_speaker(
    stack: CallStack, page: Page, sandbox: Sandbox, email: str = "ann@example.com"
) -> RingingCall:
    """Sign `email` up on `page`, then place their call to the late speaker: it rings for
    3 s, time for a page to open before the first word."""
    await sign_up_in(page, f"http://127.0.0.1:{stack.web_port}", email)
    user_id = await user_id_of(stack, email)
    token = Sandbox.new_token()
    handed = await launch(stack, user_id, "+" + sandbox.number(sb.SPEAKS_LATE, token))
    return RingingCall(user_id, token, handed, await first_call_id(stack, user_id))


async def test_the_owner_hears_the_far_ends_first_word_within_500_ms_and_nobody_else_can(
    asterisk_sandbox: Sandbox, tmp_path: Path, browser: Browser
) -> None:
    async with call_stack(asterisk_sandbox, tmp_path, web=True, hangup_after=6.0) as stack:
        base = f"http://127.0.0.1:{stack.web_port}"
        page = await browser.new_page()
        ringing = await ring_late_speaker(stack, page, asterisk_sandbox)
        token, handed, call_id = ringing.token, ringing.handed, ringing.call_id

        await page.goto(f"{base}/calls/{call_id}")  # while it rings (3 s)
        await page.get_by_role("button", name="Listen").click()
        await expect(page.get_by_text("Listening: you hear both sides")).to_be_visible()
        heard = await page.wait_for_function(
            "() => document.body.dataset.listenFirstAudio || null", timeout=15_000
        )
        heard_at = int(await heard.json_value()) / 1000
        spoke_at = asterisk_sandbox.far_end(token).mark("speaking")
        assert 0 < heard_at - spoke_at < 0.5, f"heard {heard_at - spoke_at:.3f} s after it spoke"

        other = await browser.new_page()
        await sign_up_in(other, base, "bob@example.com")
        url = f"ws://127.0.0.1:{stack.web_port}/ws/calls/{call_id}/listen"
        assert await other.evaluate(OPENS, url) == "refused"  # not Bob's call
        await other.close()

        finished = await asyncio.wait_for(handed, 30)
        # Listening is passive: the agent's own hang-up after 6 s ended the call.
        assert finished.answered
        assert finished.end_reason == "local_hangup"
        await expect(page.get_by_text("The call is over or listening stopped.")).to_be_visible(
            timeout=10_000
        )
        assert await page.evaluate(OPENS, url) == "refused"  # a finished call: nothing to hear
