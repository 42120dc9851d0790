"""In Debian's Chromium: the pages work under the Content-Security-Policy with no violation
(the WebSocket connects, chat.html's JSON plan data renders), and Back after logout does
not bring the profile back from the cache (Cache-Control: no-store).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from database.repositories import conversations
from tests.web.conftest import PASSWORD, Web
from tests.web.seed import seed_user_data
from tests.web.test_browser_smoke import wait_for_socket
from web_interface.web_server import WebServer

PLAN = {
    "name": "Dentist round", "goal": "book a cleaning",
    "tasks": [{"contact_name": "Bright Smiles", "phone_number": "+14155550123",
               "objective": "book a cleaning", "max_attempts": 2}],
}  # fmt: skip
# Playwright's init scripts are injected by the browser itself, outside the page's CSP.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
"""


@pytest.fixture
async def base_url(web: Web) -> AsyncIterator[str]:
    server = WebServer(web.app, "127.0.0.1", 0)
    await server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.stop(timeout=5)


async def sign_up(page: Page, base_url: str, email: str) -> None:
    await page.goto(f"{base_url}/signup")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


async def csp_watched_page(browser: Browser) -> tuple[Page, list[str]]:
    """A page that records CSP violations (window.__violations) and the console's reports."""
    page = await browser.new_page()
    reported: list[str] = []
    page.on("console", lambda m: reported.append(m.text) if "Security Policy" in m.text else None)
    await page.add_init_script(RECORD_VIOLATIONS)
    return page, reported


async def test_pages_run_under_the_csp_without_violations(
    web: Web, base_url: str, browser: Browser
) -> None:
    page, reported = await csp_watched_page(browser)
    await sign_up(page, base_url, "ann@example.com")
    seeded = await seed_user_data(web.sessions, "ann@example.com")
    async with web.sessions() as s, s.begin():
        chat = await conversations.create(s, user_id=seeded.user_id, title="Dentists")
        await conversations.update(
            s, user_id=seeded.user_id, conversation_id=chat.id, plan=PLAN,
            messages=[{"role": "user", "content": "Book me a cleaning"}],
        )  # fmt: skip

    await page.goto(f"{base_url}/")
    await wait_for_socket(web, seeded.user_id)  # the live socket connects under connect-src
    await page.goto(f"{base_url}/chat?c={chat.id}")
    await expect(page.locator("#plan-name")).to_have_value("Dentist round")  # the data block
    await expect(page.get_by_label("Who, call 1")).to_have_value("Bright Smiles")
    await page.goto(f"{base_url}/calls/{seeded.call_id}")
    await expect(page.get_by_text("Dental office")).to_be_visible()
    await wait_for_socket(web, seeded.user_id)
    violations: Any = await page.evaluate("window.__violations")
    assert violations == []
    assert reported == []


async def test_back_after_logout_shows_the_login_page_not_the_profile(
    base_url: str, browser: Browser
) -> None:
    page = await browser.new_page()
    await sign_up(page, base_url, "ann@example.com")
    await page.goto(f"{base_url}/profile")
    await page.get_by_label("New token name").fill("laptop")
    await page.get_by_role("button", name="Create token").click()
    await expect(page.get_by_text("Your new token")).to_be_visible()
    await page.goto(f"{base_url}/profile")
    await expect(page.get_by_text("laptop")).to_be_visible()
    await page.get_by_role("button", name="Log out").click()
    await expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    await page.go_back()
    await expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    assert "/login" in page.url
    assert await page.get_by_text("laptop").count() == 0
