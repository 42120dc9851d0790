"""A task's timeline on the campaign page, in Chromium: the changes stored so far are
rendered, and a change committed while the page is open appears live, through the real
path (task_events.move → commit → the event relay → the bus → /ws/events → app.js)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.command_bus import InProcessCommandBus
from common.event_relay import EventRelay
from common.events import TaskStatusChanged
from common.health import HealthRegistry
from common.metrics import PlatformMetrics
from database.engine import create_engine_for, session_factory
from database.migrate import upgrade_engine
from database.models import Task
from database.repositories import campaigns, task_events, tasks, users
from database.states import TaskActor, TaskStatus
from tests.web.conftest import PASSWORD
from web_interface.app import create_app
from web_interface.deps import WebDeps
from web_interface.web_server import WebServer


@dataclass
class Site:
    base: str
    sessions: async_sessionmaker[AsyncSession]
    bus: InProcessCommandBus


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    """The web app over sessions that announce task changes after commit, as the
    platform builds them (launcher/platform.py)."""
    engine = create_engine_for(None, tmp_path)
    await upgrade_engine(engine)
    bus, relay = InProcessCommandBus(), EventRelay()
    sessions = session_factory(engine, after_commit=relay.put)
    await relay.start(bus)
    deps = WebDeps(HealthRegistry(), PlatformMetrics(), sessions, bus, secret_key=b"k" * 32)
    server = WebServer(create_app(deps), "127.0.0.1", 0)
    await server.start()
    try:
        yield Site(f"http://127.0.0.1:{server.port}", sessions, bus)
    finally:
        await server.stop(timeout=5)
        await relay.stop()
        await bus.aclose()
        await engine.dispose()


async def _move(site: Site, task: Task, to: TaskStatus, reason: str) -> None:
    async with site.sessions() as s, s.begin():
        row = await tasks.get(s, user_id=task.user_id, task_id=task.id)
        assert row is not None
        await task_events.move(s, row, to, actor=TaskActor.SCHEDULER, reason=reason)


async def test_the_campaign_page_shows_each_tasks_timeline_and_grows_it_live(
    site: Site, browser: Browser
) -> None:
    page = await browser.new_page()
    await page.goto(f"{site.base}/signup")
    await page.get_by_label("Email").fill("ann@example.com")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    async with site.sessions() as s, s.begin():
        user = await users.get_by_email(s, "ann@example.com")
        assert user is not None
        campaign = await campaigns.create(s, user_id=user.id, name="dentists")
        task = await tasks.create(
            s, user_id=user.id, campaign_id=campaign.id,
            task=tasks.NewTask(phone_number="+14155550101", objective="book",
                               contact_name="Dr Lee"),
        )  # fmt: skip
    await _move(site, task, TaskStatus.SCHEDULED, "claimed")
    await page.goto(f"{site.base}/campaigns/{campaign.id}")
    timeline = page.locator(f'ol.timeline[data-task-id="{task.id}"] > li')
    await expect(timeline).to_have_count(2)
    await expect(timeline.nth(0)).to_contain_text("new → pending")
    await expect(timeline.nth(1)).to_contain_text("pending → scheduled")
    await _socket_listening(site, user.id)
    await _move(site, task, TaskStatus.IN_PROGRESS, "calling (attempt 1)")
    await expect(timeline).to_have_count(3)
    await expect(timeline.nth(2)).to_contain_text("scheduled → in progress")
    await expect(timeline.nth(2)).to_contain_text("scheduler: calling (attempt 1)")
    await expect(page.locator(f'[data-task-status="{task.id}"]')).to_have_text("in progress")


async def _socket_listening(site: Site, user_id: int) -> None:
    """Until the page's socket subscribes (events are not replayed): a change for a task
    that is not on the page, which the page ignores, reaches one listener."""
    probe = TaskStatusChanged(
        event_id=0, task_id=0, campaign_id=None, from_status=None, to_status="pending",
        reason="", actor="system", at=datetime.now(UTC),
    )  # fmt: skip
    for _ in range(100):
        if await site.bus.publish_event(user_id, probe) > 0:
            return
        await asyncio.sleep(0.1)
    pytest.fail("the page's socket never subscribed")
