"""First contact in Debian's Chromium (issue 14): every page fits a 390 px phone without
sideways scrolling, the profile keeps what was typed and shows every problem, a failed
form does not post again on reload, destructive buttons ask, a failed login focuses the
password.

The platform runs as a newcomer starts it: no OpenAI key, no AMI secret (tests/web/
keyless.py). Screenshots at 390 and 1280 px go to test-artifacts/screenshots/first_contact/
(ignored by git) to be looked at.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.web.conftest import PASSWORD
from tests.web.keyless import Keyless, keyless_platform
from tests.web.seed import seed_user_data

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots" / "first_contact"
PHONE, DESKTOP = 390, 1280
EMAIL = "nina@example.com"


@pytest.fixture
async def keyless(tmp_path: Path, chromium: str) -> AsyncIterator[Keyless]:
    async with keyless_platform(tmp_path / "data") as running:
        yield running


async def sign_up(page: Page, base_url: str) -> None:
    await page.goto(f"{base_url}/signup")
    await page.get_by_label("Your name").fill("Nina")
    await page.get_by_label("Email").fill(EMAIL)
    await page.get_by_label("Password", exact=False).fill(PASSWORD)
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


async def width_of(page: Page, name: str, width: int) -> int:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SHOTS / f"{name}-{width}.png", full_page=True)
    scroll: int = await page.evaluate("document.documentElement.scrollWidth")
    return scroll


async def test_every_page_fits_a_phone_and_a_desktop(keyless: Keyless, browser: Browser) -> None:
    base = keyless.base_url
    wide: dict[str, int] = {}
    for width in (PHONE, DESKTOP):
        context = await browser.new_context(viewport={"width": width, "height": 844})
        page = await context.new_page()
        for name, path in [("landing", "/"), ("login", "/login"), ("signup", "/signup")]:
            await page.goto(base + path)
            wide[f"{name}-{width}"] = await width_of(page, name, width)
        if width == PHONE:
            await sign_up(page, base)
            seeded = await seed_user_data(keyless.platform.sessions, EMAIL)
        else:
            await page.goto(f"{base}/login")
            await page.get_by_label("Email").fill(EMAIL)
            await page.get_by_label("Password").fill(PASSWORD)
            await page.get_by_role("button", name="Log in").click()
            await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
        pages = {
            "dashboard": "/", "chat": "/chat", "dnd": "/dnd", "profile": "/profile",
            "notifications": "/notifications", "campaign": f"/campaigns/{seeded.campaign_id}",
            "call": f"/calls/{seeded.call_id}", "missing": "/nope",
        }  # fmt: skip
        for name, path in pages.items():
            await page.goto(base + path)
            if name != "missing":
                await expect(page.locator("#calls-off")).to_be_visible()
            wide[f"{name}-{width}"] = await width_of(page, name, width)
        await page.goto(f"{base}/")
        if width == PHONE:  # the navigation folds behind Menu, and opens inside the screen
            notifications = page.get_by_role("link", name="Notifications")
            await expect(notifications).to_be_hidden()
            await page.get_by_role("button", name="Menu").click()
            await expect(notifications).to_be_visible()
            box = await notifications.bounding_box()
            assert box is not None
            assert box["x"] + box["width"] <= PHONE
            wide[f"menu-open-{width}"] = await width_of(page, "menu-open", width)
        else:
            await expect(page.get_by_role("button", name="Menu")).to_be_hidden()
        await page.goto(f"{base}/chat")
        await page.get_by_role("button", name="write a plan by hand").click()
        await page.get_by_role("button", name="Add a call").click()
        wide[f"plan-by-hand-{width}"] = await width_of(page, "plan-by-hand", width)
        await context.close()
    too_wide = {k: v for k, v in wide.items() if v > int(k.rsplit("-", 1)[1])}
    assert not too_wide, too_wide
    assert len(wide) == 2 * 12 + 1


async def test_the_profile_keeps_what_was_typed_and_names_every_problem(
    keyless: Keyless, browser: Browser
) -> None:
    page = await browser.new_page(viewport={"width": PHONE, "height": 844})
    await sign_up(page, keyless.base_url)
    await page.goto(f"{keyless.base_url}/profile")
    await page.get_by_label("Name", exact=True).fill("Nina Simone")
    await page.get_by_label("Your phone number").fill("12345")
    await page.get_by_label("Time zone").fill("Mars/Olympus")
    await page.get_by_label("Label 1").fill("Diet")
    await page.get_by_label("What the agent may say 1").fill("vegetarian")
    await page.get_by_label("What the agent may say 2").fill("My name is Nina")
    await page.get_by_label("Things the agent must never share").fill("my home address")
    await page.get_by_role("button", name="Save profile").click()
    alert = page.locator("#profile-errors")
    await expect(alert).to_contain_text("Time zone is not a known time zone")
    await expect(alert).to_contain_text('Phone number "12345" is not a valid phone number')
    await expect(alert).to_contain_text("row 2 needs a label")
    await expect(alert).not_to_contain_text("Value error")
    await expect(page.get_by_label("Name", exact=True)).to_have_value("Nina Simone")
    await expect(page.get_by_label("Your phone number")).to_have_value("12345")
    await expect(page.get_by_label("Time zone")).to_have_value("Mars/Olympus")
    await expect(page.get_by_label("Label 1")).to_have_value("Diet")
    await expect(page.get_by_label("What the agent may say 2")).to_have_value("My name is Nina")
    await expect(page.get_by_label("Things the agent must never share")).to_have_value(
        "my home address"
    )
    await expect(page.get_by_label("Time zone")).to_have_attribute("aria-invalid", "true")
    assert page.url == f"{keyless.base_url}/profile"
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SHOTS / "profile-errors-390.png", full_page=True)
    await page.get_by_label("Your phone number").fill("+1 415 555 0123")
    await page.get_by_label("Time zone").fill("Europe/Paris")
    await page.get_by_label("Label 2").fill("Name")
    await page.get_by_role("button", name="Save profile").click()
    await expect(page.get_by_text("Your profile is saved.")).to_be_visible()
    await expect(page.get_by_label("Label 2")).to_have_value("Name")


async def test_a_failed_test_call_is_not_sent_again_by_a_reload(
    keyless: Keyless, browser: Browser
) -> None:
    page = await browser.new_page()
    await sign_up(page, keyless.base_url)
    await page.goto(f"{keyless.base_url}/chat")
    await page.get_by_label("Number to call").fill("+1 555 123 4567")
    await page.get_by_label("What the call should achieve").fill("Ask if the line works")
    await page.get_by_role("button", name="Call now").click()
    await expect(page.get_by_text("555-0100 to 555-0199")).to_be_visible()
    await expect(page.get_by_label("What the call should achieve")).to_have_value(
        "Ask if the line works"
    )
    assert page.url == f"{keyless.base_url}/chat"  # the failed post's page took /chat
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    await page.reload()
    await expect(page.get_by_role("heading", name="Chat")).to_be_visible()
    assert posts == []


async def test_remove_asks_first_and_a_failed_login_focuses_the_password(
    keyless: Keyless, browser: Browser
) -> None:
    page = await browser.new_page()
    await sign_up(page, keyless.base_url)
    await page.goto(f"{keyless.base_url}/dnd")
    await page.get_by_label("Phone number").fill("+1 415 555 0123")
    await page.get_by_role("button", name="Add").click()
    await expect(page.get_by_text("+14155550123 is on your do-not-call list.")).to_be_visible()
    asked: list[str] = []

    async def dismiss(dialog: object) -> None:
        asked.append(dialog.message)  # type: ignore[attr-defined]
        await dialog.dismiss()  # type: ignore[attr-defined]

    page.on("dialog", dismiss)
    await page.get_by_role("button", name="Remove +14155550123").click()
    await expect(page.locator("ul.dnd")).to_contain_text("+14155550123")
    assert asked == ["Remove +14155550123 from your do-not-call list? It may be called again."]
    async with httpx.AsyncClient(base_url=keyless.base_url) as anonymous:
        assert (await anonymous.get("/favicon.ico")).status_code == 200
    fresh = await browser.new_page()
    await fresh.goto(f"{keyless.base_url}/login")
    await fresh.get_by_label("Email").fill(EMAIL)
    await fresh.get_by_label("Password").fill("not the password")
    await fresh.get_by_role("button", name="Log in").click()
    await expect(fresh.get_by_text("Wrong email or password.")).to_be_visible()
    assert await fresh.evaluate("document.activeElement.id") == "password"
    await expect(fresh.get_by_label("Email")).to_have_value(EMAIL)


async def test_a_plan_made_by_hand_without_a_key_becomes_a_campaign(
    keyless: Keyless, browser: Browser
) -> None:
    page = await browser.new_page(viewport={"width": PHONE, "height": 844})
    await sign_up(page, keyless.base_url)
    await page.goto(f"{keyless.base_url}/chat")
    await expect(page.get_by_text("The assistant cannot answer right now.")).to_be_visible()
    await expect(page.get_by_label("Your message")).to_be_disabled()
    await page.get_by_label("Goal", exact=True).fill("Book a dental cleaning next week")
    await page.get_by_label("Number, call 1").fill("+1 555 123 4567")
    await page.get_by_label("Objective, call 1").fill("Book a cleaning for Nina")
    await page.get_by_role("button", name="Confirm and schedule").click()
    await expect(page.locator("#plan-problems")).to_contain_text("555-0100 to 555-0199")
    await page.get_by_label("Number, call 1").fill("+1 415 555 0123")
    await page.get_by_role("button", name="Confirm and schedule").click()
    await expect(
        page.get_by_role("heading", name="Book a dental cleaning next week")
    ).to_be_visible()
    await expect(page.get_by_text("Calls are off (AMI_SECRET and OPENAI_API_KEY")).to_be_visible()
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SHOTS / "plan-by-hand-campaign-390.png", full_page=True)
