"""The app with the real planner and task engine control, over SQLite or a fresh
PostgreSQL database; API tokens made the way a person makes them (Profile → /api/tokens)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from common.command_bus import InProcessCommandBus
from common.health import HealthRegistry
from common.metrics import PlatformMetrics
from config.settings import CallingSettings
from database import migrate
from database.engine import create_engine_for, session_factory
from database.models import Campaign, Task
from task_manager.campaign_control import CampaignControlService
from task_manager.orchestrator import OrchestratorService
from task_manager.ui_assistant_svc import UiAssistantService
from tests.web.conftest import Web
from web_interface.app import create_app
from web_interface.deps import WebDeps

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


async def _database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str | None]:
    """None (SQLite under tmp_path) or the URL of a fresh PostgreSQL database, migrated."""
    if request.param == "sqlite":
        await migrate.upgrade(None, tmp_path)
        yield None
        return
    postgres_url: str = request.getfixturevalue("postgres_url")
    admin = make_url(postgres_url).set(drivername="postgresql").render_as_string(False)
    name = f"opendeep_api_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(admin, timeout=10)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
        url = make_url(postgres_url).set(database=name).render_as_string(False)
        await migrate.upgrade(url, tmp_path)
        yield url
    finally:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.close()


@pytest.fixture(params=BACKENDS)
async def api(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Web]:
    """The whole web app as the platform builds it for people, minus the chat model (the
    API does not talk to it): the real planner (plan check and confirm) and the real
    campaign control of the task engine."""
    async for url in _database(request, tmp_path):
        engine = create_engine_for(url, tmp_path)
        sessions, bus = session_factory(engine), InProcessCommandBus()
        orchestrator = OrchestratorService(sessions, CallingSettings(default_region="US"))
        deps = WebDeps(
            HealthRegistry(), PlatformMetrics(), sessions, bus,
            secret_key=b"v" * 32, session_lifetime=timedelta(hours=1),
            assistant=UiAssistantService(sessions, None, "unused", orchestrator),
            control=CampaignControlService(sessions),
        )  # fmt: skip
        web = Web(create_app(deps), deps, sessions, bus, [])
        try:
            yield web
        finally:
            for client in web.clients:
                await client.aclose()
            await bus.aclose()
            await engine.dispose()


async def token_client(web: Web, owner: httpx.AsyncClient, scopes: list[str]) -> httpx.AsyncClient:
    """A script's client: a token the owner made on their session, nothing else."""
    made = await owner.post("/api/tokens", json={"name": "script", "scopes": scopes})
    assert made.status_code == 201, made.text
    script = web.client()
    script.headers["Authorization"] = f"Bearer {made.json()['token']}"
    return script


async def counts(web: Web) -> tuple[int, int]:
    """Campaigns and tasks stored, everyone's."""
    async with web.sessions() as s:
        campaigns = await s.scalar(select(func.count()).select_from(Campaign))
        tasks = await s.scalar(select(func.count()).select_from(Task))
    return int(campaigns or 0), int(tasks or 0)
