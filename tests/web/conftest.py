"""A real app per test: migrated SQLite in tmp, the in-process bus, httpx over ASGI;
and Debian's Chromium under Playwright for the browser tests."""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from fastapi import FastAPI
from playwright.async_api import Browser, async_playwright
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.command_bus import InProcessCommandBus
from common.health import HealthRegistry
from common.metrics import PlatformMetrics
from database.engine import create_engine_for, session_factory
from database.migrate import upgrade_engine
from tests.support.services import unavailable
from web_interface.app import create_app
from web_interface.deps import WebDeps

PASSWORD = "correct horse battery"
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip


@dataclass
class Web:
    app: FastAPI
    deps: WebDeps
    sessions: async_sessionmaker[AsyncSession]
    bus: InProcessCommandBus
    clients: list[httpx.AsyncClient]

    def client(self, base_url: str = "http://testserver") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app)
        client = httpx.AsyncClient(transport=transport, base_url=base_url)
        self.clients.append(client)
        return client

    async def user(self, email: str, name: str = "") -> httpx.AsyncClient:
        """A client signed up (and so logged in) as `email`, with its CSRF header set."""
        client = self.client()
        await sign_up(client, email, name=name)
        await refresh_csrf(client)
        return client


def csrf_from(html: str) -> str:
    match = CSRF_META.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


async def pending_questions(socket: websockets.ClientConnection) -> list[dict[str, Any]]:
    """The first message of every /ws/events socket: the questions still waiting."""
    first = json.loads(await asyncio.wait_for(socket.recv(), 5))
    assert first["type"] == "questions_pending", first
    return list(first["questions"])


async def refresh_csrf(client: httpx.AsyncClient) -> str:
    """Take the page's CSRF token into the client's X-CSRF-Token header (what app.js does)."""
    token = csrf_from((await client.get("/")).text)
    client.headers["X-CSRF-Token"] = token
    return token


async def form_token(client: httpx.AsyncClient, page: str = "/login") -> str:
    response = await client.get(page)
    return csrf_from(response.text)


async def sign_up(client: httpx.AsyncClient, email: str, name: str = "") -> httpx.Response:
    token = await form_token(client, "/signup")
    response = await client.post(
        "/signup",
        data={"csrf_token": token, "email": email, "password": PASSWORD, "display_name": name},
    )
    assert response.status_code == 303, response.text
    return response


async def log_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    token = await form_token(client)
    return await client.post(
        "/login", data={"csrf_token": token, "email": email, "password": password}
    )


@pytest.fixture
async def make_web(tmp_path: Path) -> AsyncIterator[Callable[..., Web]]:
    """Build apps over one migrated database; options go to WebDeps."""
    engine = create_engine_for(None, tmp_path / "data")
    await upgrade_engine(engine)
    sessions = session_factory(engine)
    bus = InProcessCommandBus()
    built: list[Web] = []

    def build(**options: Any) -> Web:
        app_bus = options.pop("bus", bus)
        deps = WebDeps(HealthRegistry(), PlatformMetrics(), sessions, app_bus, **options)
        web = Web(create_app(deps), deps, sessions, app_bus, [])
        built.append(web)
        return web

    try:
        yield build
    finally:
        for web in built:
            for client in web.clients:
                await client.aclose()
        await bus.aclose()
        await engine.dispose()


@pytest.fixture
async def web(make_web: Callable[..., Web]) -> Web:
    return make_web(secret_key=b"k" * 32, session_lifetime=timedelta(hours=1))


@pytest.fixture
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        unavailable("Chromium", "install it with: apt-get install chromium")
    return CHROMIUM


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()
