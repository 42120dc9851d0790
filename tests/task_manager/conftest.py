"""Task engine fixtures: a fresh migrated SQLite file per test (copied from a template, so
cross-user sweeps see only this test's rows) and, for the multi-process tests, a fresh
PostgreSQL database."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from database import migrate
from database.engine import SQLITE_FILE, create_engine_for, session_factory

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("task-engine-template")
    asyncio.run(migrate.upgrade(None, data_dir))
    return data_dir / SQLITE_FILE


@pytest.fixture
async def sessions(sqlite_template: Path, tmp_path: Path) -> AsyncIterator[Sessions]:
    shutil.copy(sqlite_template, tmp_path / SQLITE_FILE)
    engine = create_engine_for(None, tmp_path)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


async def _admin(postgres_url: str, statement: str) -> None:
    dsn = make_url(postgres_url).set(drivername="postgresql").render_as_string(False)
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture
def pg_url(postgres_url: str, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for one test."""
    name = f"opendeep_tm_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(postgres_url, f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_url).set(database=name).render_as_string(False)
    try:
        asyncio.run(migrate.upgrade(url, tmp_path))
        yield url
    finally:
        asyncio.run(_admin(postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
