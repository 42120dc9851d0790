"""`make demo` end to end in Debian's Chromium, against a real `main.py demo` process.

The process is started the way a newcomer starts it (a subprocess with a clean
environment, no key, no Redis): the scripted planning assistant and call agent behind the
demo's OpenAI-compatible server, a telephone line, the demo callees. A person signs up,
asks the chat to call three dentists, edits and confirms the plan, watches a call live,
answers the agent's question and reads the campaign's summary, in under three minutes.
The timed story runs on the Asterisk sandbox line (real SIP calls; what `make demo` picks
where the sandbox runs); the same story is walked at 390 px wide, with no page wider than
the screen, on the simulated line (what every other machine gets). Screenshots go to
test-artifacts/screenshots/demo/ (not committed).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Locator, Page, expect

from launcher.demo.callees import BRIGHT_SMILE, QUESTION
from tests.support.platform_process import RunningMain, running_main
from tests.support.processes import clean_env
from tests.support.sandbox import Sandbox
from tests.web.conftest import PASSWORD

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots" / "demo"
STORY_LIMIT = 180.0  # seconds: the "in under 3 minutes"
Visit = Callable[[Page, str], Awaitable[None]]


@contextlib.asynccontextmanager
async def demo_process(
    tmp_path: Path, line: str, sandbox: Sandbox | None = None
) -> AsyncIterator[tuple[str, RunningMain]]:
    """`main.py demo --line LINE` in its own data directory, once it answers: its URL and
    process."""
    env = clean_env(EVENT_LOOP="asyncio")
    if sandbox is not None:
        env["OPENDEEP_SANDBOX_ROOT"] = str(sandbox.root)
    command = ("demo", "--data-dir", str(tmp_path / ".demo"), "--line", line)
    async with running_main(env, tmp_path, command) as demo:
        base_url = f"http://127.0.0.1:{demo.web_port}"
        async with httpx.AsyncClient(base_url=base_url) as client:
            async with asyncio.timeout(60):
                while True:
                    with contextlib.suppress(httpx.TransportError):
                        if (await client.get("/healthz")).status_code == 200:
                            break
                    assert demo.proc.returncode is None, demo.text
                    await asyncio.sleep(0.2)
        yield base_url, demo


def assert_clean(demo: RunningMain) -> None:
    """A newcomer's terminal shows no error: no traceback, no failed task (a call waiting
    on the person's answer is quiet on AMI for longer than the 15 s liveness check)."""
    errors = [line for line in demo.output if " ERROR " in line or "Traceback" in line]
    assert not errors, "".join(errors)


async def run_story(page: Page, base_url: str, visit: Visit) -> None:
    """The story, with `visit(page, name)` called on every page it shows."""
    await page.goto(f"{base_url}/signup")
    await expect(page.locator(".demo-badge")).to_have_text("Demo")
    await visit(page, "01-signup")
    await page.get_by_label("Your name").fill("Ann")
    await page.get_by_label("Email").fill("ann@example.com")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    await expect(
        page.get_by_role("link", name="Sample: a plumber for the kitchen sink")
    ).to_be_visible()
    await visit(page, "02-dashboard-with-sample-history")

    await go_to(page, "Chat")
    message = page.get_by_label("Your message")
    await message.fill("Call three dentists and book a cleaning")
    await page.get_by_role("button", name="Send").click()
    await expect(page.get_by_text("Which days or times suit you")).to_be_visible()
    await message.fill("Any weekday morning")
    await page.get_by_role("button", name="Send").click()
    await expect(page.get_by_text("Here is the plan: three calls")).to_be_visible()
    await expect(page.get_by_label("Number, call 1")).to_have_value(BRIGHT_SMILE.number)
    await page.get_by_label("Campaign name").fill("Ann's cleaning")  # the person edits the plan
    await visit(page, "03-plan")
    await page.get_by_role("button", name="Confirm and schedule").click()
    await expect(page.get_by_role("heading", name="Ann's cleaning")).to_be_visible()
    campaign_url = page.url
    await visit(page, "04-campaign")

    await go_to(page, "Dashboard")
    live_call = page.get_by_role("link", name=f"Call to {BRIGHT_SMILE.number}")
    await _until_visible(page, live_call, 30)
    await live_call.first.click()
    transcript = page.locator("#transcript")
    await expect(transcript.get_by_text("Bright Smile front desk")).to_be_visible(timeout=30_000)
    await expect(page.locator("#call-status")).to_have_text("answered", timeout=15_000)
    prompt = page.locator("form[data-question]", has_text=QUESTION)
    await expect(prompt).to_be_visible(timeout=30_000)
    await visit(page, "05-live-call-question")
    await prompt.get_by_label("Your answer").fill("Thursday at 4 pm, please")
    await prompt.get_by_role("button", name="Send answer").click()
    await expect(prompt.get_by_text("Sent to the call.")).to_be_visible()
    await expect(transcript.get_by_text("They say: Thursday at 4 pm, please")).to_be_visible(
        timeout=30_000
    )
    await expect(transcript.get_by_text("Perfect, I've put that down")).to_be_visible(
        timeout=30_000
    )
    await visit(page, "06-live-call-answered")

    await page.goto(campaign_url)
    summary = page.get_by_role("heading", name="Summary")
    await _until_visible(page, summary, 60)
    await expect(page.get_by_text("2 of 3 tasks succeeded.")).to_be_visible()
    await expect(page.get_by_text("Ann chose: Thursday at 4 pm, please").first).to_be_visible()
    await visit(page, "07-summary")


async def _until_visible(page: Page, locator: Locator, seconds: float) -> None:
    """Reload until `locator` shows (pages that are not live, like a finished summary)."""
    async with asyncio.timeout(seconds):
        while not await locator.first.is_visible():
            await asyncio.sleep(1)
            await page.reload()


async def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SHOTS / f"{name}.png", full_page=True)


@pytest.mark.sandbox
async def test_the_demo_story_runs_in_under_three_minutes_on_the_asterisk_sandbox(
    tmp_path: Path, browser: Browser, asterisk_sandbox: Sandbox
) -> None:
    async with demo_process(tmp_path, "sandbox", asterisk_sandbox) as (base_url, demo):
        assert "Telephone line: the Asterisk sandbox (Asterisk 22." in demo.text
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        await page.goto(f"{base_url}/login")
        badge = await page.locator(".demo-badge").get_attribute("title")
        assert badge is not None
        assert "the Asterisk sandbox" in badge

        async def visit(page: Page, name: str) -> None:
            await shoot(page, f"1280-{name}")

        started = time.monotonic()
        await run_story(page, base_url, visit)
        took = time.monotonic() - started
        assert_clean(demo)
    print(f"the demo story took {took:.1f} s")
    assert took < STORY_LIMIT


async def test_every_page_of_the_demo_story_fits_a_390_px_screen_on_the_simulated_line(
    tmp_path: Path, browser: Browser
) -> None:
    too_wide: list[str] = []

    async def visit(page: Page, name: str) -> None:
        await shoot(page, f"390-{name}")
        width = await page.evaluate("document.documentElement.scrollWidth")
        if width > 390:
            too_wide.append(f"{name} ({page.url}): {width} px")

    async with demo_process(tmp_path, "simulated") as (base_url, demo):
        assert "Telephone line: simulated, because --line simulated asked for it." in demo.text
        page = await browser.new_page(viewport={"width": 390, "height": 844})
        await run_story(page, base_url, visit)
        assert_clean(demo)
    assert not too_wide, "pages wider than the screen: " + "; ".join(too_wide)


async def go_to(page: Page, name: str) -> None:
    """Follow a navigation link; on a phone-sized screen it is behind the Menu button."""
    link = page.get_by_role("navigation").get_by_role("link", name=name)
    if not await link.is_visible():
        await page.get_by_role("button", name="Menu").click()
    await link.click()
