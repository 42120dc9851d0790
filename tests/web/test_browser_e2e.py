"""End to end in Debian's Chromium: chat to a plan, confirm, watch the call, answer, read.

The real stack: the web app on uvicorn, the planning assistant (its LLM played by the
local OpenAI-compatible server), the orchestrator, the task scheduler launching through
the call initiator, AMI and AudioSocket against the Asterisk sandbox, and the agent
talking to the strict fake Realtime server. The person signs up, chats, confirms the
plan; the scheduler places the call; the agent asks a question mid-call, which pops up
on the open page; the answer goes back to the call; the transcript is read on the call
page. Screenshots of each step go to test-artifacts/screenshots/web_e2e/ (not committed).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from database.repositories import calls, campaigns, tasks
from database.states import TaskStatus
from launcher.openai_clients import OpenAIClients, chat_client, realtime_client
from tests.agent.conftest import AgentStack, agent_stack
from tests.realtime.conftest import ulaw_tone
from tests.support import sandbox as sb
from tests.support.fake_realtime import CallFunction, FakeRealtimeServer, Response, Say, Script
from tests.support.platform_settings import ALWAYS
from tests.support.sandbox import Sandbox
from tests.web.conftest import PASSWORD
from tests.web.fake_llm import KEY, FakeChatServer, Text, Tools

pytestmark = pytest.mark.sandbox

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots" / "web_e2e"
QUESTION = "They offer Tuesday at 3 pm. Is that fine?"
CLOSING = "Tuesday at 3 pm works, thank you."


async def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SHOTS / f"{name}.png", full_page=True)


def sandbox_number(sandbox: Sandbox) -> str:
    """The PERSON far end (talks, then stays on the line for 60 s) at a number that is also
    a valid one (+20 2...: Cairo), so the orchestrator accepts it like any real number.
    The fake model's VAD is deaf (vad_threshold) so the far end's greeting can neither
    barge in on the agent nor start a response of its own: the script runs as written."""
    return "+" + sandbox.number(sb.PERSON, Sandbox.new_token()[:8])


def agent_script() -> Script:
    return Script([
        Response([Say(ulaw_tone(400), "Hello, I am calling to book a cleaning."),
                  CallFunction("request_user_feedback", {"question": QUESTION})]),
        # Only after the answer (the client's response.create), never on the callee's words.
        Response([Say(ulaw_tone(400), CLOSING),
                  CallFunction("end_call", {"outcome": "success", "summary": "Tuesday 3 pm"})],
                 trigger="response.create"),
    ])  # fmt: skip


def chat_script(number: str) -> list[Text | Tools]:
    plan = {
        "name": "Sandbox dentist", "goal": "book a cleaning next week",
        "tasks": [{"contact_name": "Sandbox Dental", "phone_number": number,
                   "objective": "book a cleaning next week",
                   "success_criteria": "an appointment time", "max_attempts": 1}],
    }  # fmt: skip
    return [
        Text("Which dental office should I call, and at what number?"),
        Tools([("propose_plan", {"plan": plan})]),
        Text("Here is the plan: one call to Sandbox Dental. Confirm it when ready."),
    ]


@contextlib.asynccontextmanager
async def platform_for(
    sandbox: Sandbox, data_dir: Path, fake: FakeRealtimeServer, llm: FakeChatServer
) -> AsyncIterator[tuple[AgentStack, str]]:
    """The whole platform as main.py builds it: web app, task engine, calls, the agent."""
    clients = OpenAIClients(
        chat=chat_client(KEY, llm.base_url), realtime=realtime_client("test-key", fake.base_url)
    )
    try:
        async with agent_stack(
            sandbox, data_dir, fake, openai=clients, web=True, task_engine=True,
            calling=ALWAYS, scheduler_poll=0.2,
        ) as stack:  # fmt: skip
            yield stack, f"http://127.0.0.1:{stack.web_port}"
    finally:
        await clients.aclose()


async def wait_for_task(stack: AgentStack, user_id: int) -> TaskStatus:
    async with asyncio.timeout(40):
        while True:
            async with stack.sessions() as s:
                [task] = await tasks.list_for_user(s, user_id=user_id)
            if TaskStatus(task.status).is_final:
                return TaskStatus(task.status)
            await asyncio.sleep(0.2)


async def test_chat_to_a_plan_confirm_watch_the_call_answer_and_read_it(
    asterisk_sandbox: Sandbox, tmp_path: Path, browser: Browser
) -> None:
    number = sandbox_number(asterisk_sandbox)
    async with (
        FakeRealtimeServer(agent_script(), vad_threshold=1e9) as fake,
        FakeChatServer(chat_script(number)) as llm,
        platform_for(asterisk_sandbox, tmp_path, fake, llm) as (stack, base_url),
    ):
        page = await browser.new_page()
        await page.goto(f"{base_url}/signup")
        await page.get_by_label("Your name").fill("Ann")
        await page.get_by_label("Email").fill("ann@example.com")
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Create account").click()
        await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
        await shot(page, "01-signed-up")

        await page.get_by_role("link", name="Chat").click()
        message = page.get_by_label("Your message")
        await message.fill("I need a dentist cleaning next week")
        await page.get_by_role("button", name="Send").click()
        await expect(page.get_by_text("Which dental office should I call")).to_be_visible()
        await message.fill(f"Sandbox Dental, {number}")
        await page.get_by_role("button", name="Send").click()
        await expect(page.get_by_text("Here is the plan: one call")).to_be_visible()
        await expect(page.get_by_label("Number, call 1")).to_have_value(number)
        await expect(page.get_by_label("Campaign name")).to_have_value("Sandbox dentist")
        # The answering-machine and hold options, edited like the rest of the plan.
        voicemail = page.get_by_label("When an answering machine answers")
        await expect(voicemail).to_have_value("hang_up_and_retry")
        await voicemail.select_option("leave_message")
        await page.get_by_label("Wait on hold at most (minutes)").fill("20")
        await shot(page, "02-plan")
        await page.get_by_role("button", name="Confirm and schedule").click()
        await expect(page.get_by_role("heading", name="Sandbox dentist")).to_be_visible()
        await shot(page, "03-campaign")
        async with stack.sessions() as s:
            [campaign] = await campaigns.list_for_user(s, user_id=await _user_id(stack, page))
        assert (campaign.voicemail_policy, campaign.max_hold_minutes) == ("leave_message", 20)
        assert campaign.voicemail_message_counts is False

        await page.get_by_role("link", name="Dashboard").click()
        prompt = page.locator("form[data-question]", has_text=QUESTION)
        await expect(prompt).to_be_visible(timeout=20_000)
        activity = page.locator("#activity")
        await shot(page, "04-live-question")
        await prompt.get_by_label("Your answer").fill("Yes, Tuesday at 3 pm is fine.")
        await prompt.get_by_role("button", name="Send answer").click()
        await expect(prompt.get_by_text("Sent to the call.")).to_be_visible()
        # The call goes on live on this page: the agent's closing words, then the end.
        await expect(activity.get_by_text(f"Agent: {CLOSING}")).to_be_visible(timeout=20_000)
        await expect(activity.get_by_text("call status: completed")).to_be_visible(timeout=20_000)
        await shot(page, "05-answered-and-done")

        async with stack.sessions() as s:
            [call] = await calls.list_for_user(s, user_id=await _user_id(stack, page))
        assert await wait_for_task(stack, call.user_id) == TaskStatus.SUCCEEDED
        await page.goto(f"{base_url}/calls/{call.id}")
        await expect(page.locator("#transcript").get_by_text(CLOSING)).to_be_visible()
        await expect(page.get_by_text("Hello, I am calling to book a cleaning.")).to_be_visible()
        await shot(page, "06-transcript")
    assert fake.received("conversation.item.create")  # the answer reached the model


async def _user_id(stack: AgentStack, page: Page) -> int:
    from database.repositories import users

    async with stack.sessions() as s:
        user = await users.get_by_email(s, "ann@example.com")
    assert user is not None
    return user.id
