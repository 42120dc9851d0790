"""In Debian's Chromium: /api/v1/docs sends a visitor to the login form and back, then
Swagger UI (served from this site) shows the API under the page's Content-Security-Policy
with no violation, and "Try it out" on a logged-in browser creates a campaign from JSON and
one from a CSV file (the page sends the session's CSRF token; the upload is multipart)."""

from __future__ import annotations

import json
from typing import Any

from playwright.async_api import Browser, expect

from config.settings import CallingSettings
from database.repositories import campaigns, users
from task_manager.orchestrator import OrchestratorService
from task_manager.ui_assistant_svc import UiAssistantService
from tests.web.conftest import PASSWORD, Web
from tests.web.test_browser_guardrails import base_url, csp_watched_page, sign_up

__all__ = ["base_url"]  # the fixture
CONTACTS = b"phone_number,objective\n+14155550123,ask\n+14155550124,ask\n"
PLAN = {"name": "From the docs", "tasks": [{"phone_number": "+14155550123", "objective": "ask"}]}


async def test_the_docs_render_under_the_csp_and_try_it_out_creates_a_campaign(
    web: Web, base_url: str, browser: Browser
) -> None:
    orchestrator = OrchestratorService(web.sessions, CallingSettings(default_region="US"))
    web.deps.assistant = UiAssistantService(web.sessions, None, "unused", orchestrator)
    page, reported = await csp_watched_page(browser)
    await sign_up(page, base_url, "docs@example.com")
    await page.context.clear_cookies()
    await page.goto(f"{base_url}/api/v1/docs")
    await page.get_by_label("Email").fill("docs@example.com")  # the login form, then back
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("heading", name="OpenDeep API")).to_be_visible()

    create = page.locator("#operations-campaigns-create_campaign_api_v1_campaigns_post")
    await create.locator(".opblock-summary").click()
    await create.get_by_role("button", name="Try it out").click()
    await create.locator("textarea.body-param__text").fill(json.dumps(PLAN))
    await create.get_by_role("button", name="Execute").click()
    status = create.locator(".live-responses-table tbody .response-col_status")
    await expect(status).to_have_text("201")
    upload = page.locator("#operations-campaigns-import_csv_api_v1_campaigns_csv_post")
    await upload.locator(".opblock-summary").click()
    await upload.get_by_role("button", name="Try it out").click()
    await upload.locator('input[type="file"]').set_input_files(
        {"name": "contacts.csv", "mimeType": "text/csv", "buffer": CONTACTS}
    )
    await upload.locator('tr[data-property-name="name"] input').fill("Uploaded in the docs")
    await upload.get_by_role("button", name="Execute").click()
    status = upload.locator(".live-responses-table tbody .response-col_status")
    await expect(status).to_have_text("201")
    async with web.sessions() as s:
        user = await users.get_by_email(s, "docs@example.com")
        assert user is not None
        made = await campaigns.list_for_user(s, user_id=user.id)
    assert sorted(c.name for c in made) == ["From the docs", "Uploaded in the docs"]
    violations: Any = await page.evaluate("window.__violations")
    assert violations == []
    assert reported == []
