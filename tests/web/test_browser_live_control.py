"""Live control end to end in Debian's Chromium, on the whole platform against the sandbox.

The platform is built as main.py builds it (web app, task engine, calls, the agent talking
to the strict fake Realtime server). The person signs up in the browser; their campaign
is made by the task engine's own orchestrator (the chat that leads to it is covered by
test_browser_e2e.py). Then, by clicking:

- pause the campaign, hang up its live call: the far end hears the hang-up within
  seconds, the row says the person ended it, and no new call starts while paused; on
  resume the next call starts;
- verify the person's own number by the call that reads them the code (no SMS is
  configured): the code reaches the model's instructions and never the page; then take a
  live call over, which rings the person's (now verified) phone.

Screenshots go to test-artifacts/screenshots/live_control/ (not committed).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Dialog, Page, expect

from call_processor.finished_call import EndedBy
from common.commands import PERSON_HANGUP
from config.settings import CallingSettings
from database.models import Call
from database.repositories import calls, tasks, users
from database.states import TaskStatus
from task_manager.orchestrator import CampaignPlan, OrchestratorService, TaskPlan
from tests.agent.conftest import AgentStack, agent_stack
from tests.realtime.conftest import ulaw_tone
from tests.support import sandbox as sb
from tests.support.fake_realtime import CallFunction, FakeRealtimeServer, Response, Say, Script
from tests.support.platform_settings import ALWAYS
from tests.support.sandbox import Sandbox
from tests.web.conftest import PASSWORD
from web_interface.private_calls import HIDDEN

pytestmark = pytest.mark.sandbox

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots" / "live_control"
GREETING = "Hello, I am calling about a cleaning appointment."
CODE_WORDS = "This is OpenDeep with your verification code."
PAUSED_FOR = 3.0  # seconds the test waits, paused, for a call that must not start


async def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SHOTS / f"{name}.png", full_page=True)


def person_number(sandbox: Sandbox) -> tuple[str, str]:
    """The PERSON far end (talks, then silence 60 s) at a valid number (+20 2...: Cairo),
    so the orchestrator takes it like any real number; and its token."""
    token = Sandbox.new_token()[:8]
    return "+" + sandbox.number(sb.PERSON, token), token


@contextlib.asynccontextmanager
async def platform(
    sandbox: Sandbox, data_dir: Path, fake: FakeRealtimeServer, calling: CallingSettings
) -> AsyncIterator[tuple[AgentStack, str]]:
    async with agent_stack(
        sandbox, data_dir, fake, web=True, task_engine=True, calling=calling, scheduler_poll=0.2
    ) as stack:
        yield stack, f"http://127.0.0.1:{stack.web_port}"


async def sign_up(page: Page, base_url: str, stack: AgentStack) -> int:
    await page.goto(f"{base_url}/signup")
    await page.get_by_label("Your name").fill("Ann")
    await page.get_by_label("Email").fill("ann@example.com")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    async with stack.sessions() as s:
        user = await users.get_by_email(s, "ann@example.com")
    assert user is not None
    return user.id


def confirm_everything(page: Page) -> list[str]:
    """Accept every confirmation (static/forms.js); the questions asked are kept."""
    asked: list[str] = []

    async def accept(dialog: Dialog) -> None:
        asked.append(dialog.message)
        await dialog.accept()

    page.on("dialog", accept)
    return asked


async def plan(stack: AgentStack, user_id: int, *numbers: str) -> int:
    """A campaign as confirming a plan makes it (the first number is called first)."""
    made = CampaignPlan(
        name="Sandbox dentists",
        goal="book a cleaning",
        tasks=[
            TaskPlan(contact_name=f"Dentist {n + 1}", phone_number=number,
                     objective="book a cleaning", max_attempts=1, priority=10 - n)
            for n, number in enumerate(numbers)
        ],
    )  # fmt: skip
    orchestrator = OrchestratorService(stack.sessions, CallingSettings())
    return (await orchestrator.create_campaign(user_id, made)).campaign_id


async def calls_of(stack: AgentStack, user_id: int) -> list[Call]:
    async with stack.sessions() as s:
        return list(reversed(await calls.list_for_user(s, user_id=user_id)))  # oldest first


async def nth_call(stack: AgentStack, user_id: int, n: int, timeout: float = 20) -> Call:
    async with asyncio.timeout(timeout):
        while len(found := await calls_of(stack, user_id)) < n:  # noqa: ASYNC110 - rows
            await asyncio.sleep(0.1)
    return found[n - 1]


async def closed(stack: AgentStack, user_id: int, call_id: str, timeout: float = 15) -> Call:
    async with asyncio.timeout(timeout):
        while True:
            async with stack.sessions() as s:
                row = await calls.get(s, user_id=user_id, call_id=call_id)
            if row is not None and row.ended_at is not None:
                return row
            await asyncio.sleep(0.1)


async def what_happened(stack: AgentStack, user_id: int, call_id: str, since: float) -> str:
    """The call's row and timeline, for a failure message (seconds after `since`)."""
    async with stack.sessions() as s:
        row = await calls.get(s, user_id=user_id, call_id=call_id)
        timeline = await calls.list_events(s, user_id=user_id, call_id=call_id)
    assert row is not None
    lines = [f"row {row.status} ended {row.ended_at} reason {row.end_reason}"]
    lines += [f"{e.at.timestamp() - since:+.2f}s {e.kind} {e.data}" for e in timeline]
    return "the page never showed the call over:\n" + "\n".join(lines)


async def test_pause_a_campaign_and_hang_up_its_live_call_then_resume(
    asterisk_sandbox: Sandbox, tmp_path: Path, browser: Browser
) -> None:
    (first, first_token), (second, second_token) = (person_number(asterisk_sandbox),
                                                    person_number(asterisk_sandbox))  # fmt: skip
    greet = Response([Say(ulaw_tone(400), GREETING)])
    one_at_a_time = ALWAYS.model_copy(update={"max_calls_per_user": 1})
    async with (
        FakeRealtimeServer(Script([greet, greet]), vad_threshold=1e9) as fake,
        platform(asterisk_sandbox, tmp_path, fake, one_at_a_time) as (stack, base_url),
    ):
        page = await browser.new_page()
        asked = confirm_everything(page)
        user_id = await sign_up(page, base_url, stack)
        campaign_id = await plan(stack, user_id, first, second)
        call = await nth_call(stack, user_id, 1)
        await asterisk_sandbox.wait_far_end(first_token, lambda r: r.answered_at is not None)

        await page.goto(f"{base_url}/campaigns/{campaign_id}")
        await page.get_by_role("button", name="Pause").click()
        await expect(page.get_by_role("button", name="Resume")).to_be_visible()
        await expect(page.locator("#campaign-status")).to_have_text("paused")
        await shot(page, "01-paused")

        await page.goto(f"{base_url}/calls/{call.id}")
        await expect(page.locator("#transcript").get_by_text(GREETING)).to_be_visible(
            timeout=15_000
        )
        clicked = time.time()
        await page.get_by_role("button", name="Hang up").click()
        heard = await asterisk_sandbox.wait_far_end(
            first_token, lambda r: r.hangup_at is not None, timeout=5
        )
        assert heard.hangup_at is not None
        assert heard.hangup_at - clicked < 5.0  # the far end heard it within seconds
        # The row closes on Asterisk's Hangup event (the shared sandbox may be slow to send it).
        try:
            await expect(page.locator("#call-status")).to_have_text("completed", timeout=15_000)
        except AssertionError as exc:
            raise AssertionError(await what_happened(stack, user_id, call.id, clicked)) from exc
        await expect(page.locator("#call-controls")).to_have_count(0)  # nothing left to do
        await shot(page, "02-hung-up")
        row = await closed(stack, user_id, call.id)
        assert (row.end_reason, row.ended_by) == (PERSON_HANGUP, str(EndedBy.PLATFORM))

        await asyncio.sleep(PAUSED_FOR)  # many scheduler polls: none may start a call
        assert [c.id for c in await calls_of(stack, user_id)] == [call.id]
        assert not asterisk_sandbox.far_end(second_token).lines
        async with stack.sessions() as s:
            first_task, second_task = await tasks.list_for_user(s, user_id=user_id)
        assert (first_task.status, second_task.status) == (
            TaskStatus.NEEDS_USER, TaskStatus.PENDING,  # the person hung up: theirs to settle
        )  # fmt: skip

        await page.goto(f"{base_url}/campaigns/{campaign_id}")
        await page.get_by_role("button", name="Resume").click()
        await expect(page.get_by_role("button", name="Pause")).to_be_visible()
        resumed = await nth_call(stack, user_id, 2)
        await asterisk_sandbox.wait_far_end(second_token, lambda r: r.answered_at is not None)
        await page.goto(f"{base_url}/calls/{resumed.id}")
        await page.get_by_role("button", name="Hang up").click()
        await asterisk_sandbox.wait_far_end(second_token, lambda r: r.hangup_at is not None)
        await shot(page, "03-resumed-and-hung-up")
        assert (await closed(stack, user_id, resumed.id)).end_reason == PERSON_HANGUP
    assert asked == ["Hang up this call now?"] * 2


async def test_verify_the_number_by_a_call_then_take_a_live_call_over(
    asterisk_sandbox: Sandbox, tmp_path: Path, browser: Browser
) -> None:
    own_token = Sandbox.new_token()
    own_phone = "+" + asterisk_sandbox.number(sb.TRANSFER_TARGET, own_token)  # says "reached"
    callee, callee_token = person_number(asterisk_sandbox)
    end = CallFunction("end_call", {"outcome": "success", "summary": "read"})
    reads_code = Response([Say(ulaw_tone(400), CODE_WORDS), end])
    greets = Response([Say(ulaw_tone(400), GREETING)])
    async with (
        FakeRealtimeServer(Script([reads_code, greets]), vad_threshold=1e9) as fake,
        platform(asterisk_sandbox, tmp_path, fake, ALWAYS) as (stack, base_url),
    ):
        page = await browser.new_page()
        asked = confirm_everything(page)
        user_id = await sign_up(page, base_url, stack)
        # The sandbox's transfer target is no number phonenumbers calls valid, so it is set
        # as an operator's create-user would set it (E.164 checked), not typed in the form.
        async with stack.sessions() as s, s.begin():
            await users.update(s, user_id, phone_number=own_phone)

        await page.goto(f"{base_url}/profile")
        await expect(page.get_by_text(f"{own_phone} is not verified.")).to_be_visible()
        await page.get_by_role("button", name="Send me a code").click()
        await expect(
            page.get_by_text(f"We are calling {own_phone} to read you a code")
        ).to_be_visible()
        await shot(page, "04-code-on-its-way")
        (update,) = await fake.wait_for("session.update", timeout=20)
        instructions = update.event["session"]["instructions"]
        spoken = re.search(r"digit by digit: ((?:\d ){5}\d)", instructions)
        assert spoken, instructions
        assert instructions.count(spoken.group(1)) == 2  # read twice
        code = spoken.group(1).replace(" ", "")
        await asterisk_sandbox.wait_far_end(own_token, lambda r: r.hangup_at is not None, 20)
        (reading,) = await calls_of(stack, user_id)
        await page.goto(f"{base_url}/calls/{reading.id}")
        await expect(page.locator("#transcript").get_by_text(HIDDEN)).to_be_visible()
        assert CODE_WORDS not in await page.content()

        await page.goto(f"{base_url}/profile")
        await page.get_by_label("The 6-digit code").fill(code)
        await page.get_by_role("button", name="Verify my number").click()
        await expect(page.get_by_text("Your phone number is verified.")).to_be_visible()
        await expect(page.get_by_text(f"{own_phone} is verified.")).to_be_visible()
        await shot(page, "05-verified")

        await plan(stack, user_id, callee)
        call = await nth_call(stack, user_id, 2)
        await asterisk_sandbox.wait_far_end(callee_token, lambda r: r.answered_at is not None)
        await page.goto(f"{base_url}/calls/{call.id}")
        await expect(page.locator("#transcript").get_by_text(GREETING)).to_be_visible(
            timeout=15_000
        )
        await page.get_by_role("button", name="Take over: call me now").click()
        rung = await asterisk_sandbox.wait_far_end(
            own_token, lambda r: r.words().count("reached") == 2, timeout=10
        )
        assert rung.words().count("reached") == 2  # the code's call, then the take-over
        assert not asterisk_sandbox.far_end(callee_token).has("hangup")  # bridged, not cut
        await shot(page, "06-taken-over")
        await page.goto(f"{base_url}/calls/{call.id}")
        await page.get_by_role("button", name="Hang up").click()
        await asterisk_sandbox.wait_far_end(callee_token, lambda r: r.hangup_at is not None)
        row = await closed(stack, user_id, call.id)
        assert (row.outcome, row.transferred, row.end_reason) == (
            "transferred", True, PERSON_HANGUP,
        )  # fmt: skip
    assert asked == [
        "Put this call through to your phone now? The agent leaves the call.",
        "Hang up this call now?",
    ]
