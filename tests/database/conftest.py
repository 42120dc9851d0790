"""Every database test runs twice: on an SQLite file and on a fresh PostgreSQL database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from database import migrate
from database.engine import create_engine_for, session_factory
from database.models import User
from database.repositories import users

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@dataclass(frozen=True)
class Backend:
    name: str
    url: str | None  # None = SQLite under data_dir, the production default
    data_dir: Path


def _admin_dsn(postgres_url: str) -> str:
    return make_url(postgres_url).set(drivername="postgresql").render_as_string(False)


async def _admin(postgres_url: str, statement: str) -> None:
    connection = await asyncpg.connect(_admin_dsn(postgres_url), timeout=10)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _backend(
    name: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    data_dir = tmp_path_factory.mktemp("data") / "nested"  # not created yet: the engine must
    if name == "sqlite":
        yield Backend("sqlite", None, data_dir)
        return
    postgres_url = request.getfixturevalue("postgres_url")
    database = f"opendeep_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(postgres_url, f'CREATE DATABASE "{database}"'))
    try:
        url = make_url(postgres_url).set(database=database).render_as_string(False)
        yield Backend("postgres", url, data_dir)
    finally:
        asyncio.run(_admin(postgres_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


@pytest.fixture(params=BACKENDS)
def empty_backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    """A fresh, never-migrated database per test (migration tests)."""
    yield from _backend(request.param, request, tmp_path_factory)


@pytest.fixture(scope="module", params=BACKENDS)
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    """One migrated database per test module; tests isolate themselves with fresh users."""
    for made in _backend(request.param, request, tmp_path_factory):
        asyncio.run(migrate.upgrade(made.url, made.data_dir))
        yield made


@pytest.fixture
async def sessions(backend: Backend) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine_for(backend.url, backend.data_dir)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


async def make_user(sessions: async_sessionmaker[AsyncSession], name: str = "user") -> User:
    async with sessions() as s, s.begin():
        return await users.create(
            s, email=f"{name}-{uuid.uuid4().hex}@example.org", password_hash="x", display_name=name
        )
