"""The engine factory: URL normalisation, SQLite connection settings, session behaviour."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from database.engine import (
    SQLITE_BUSY_TIMEOUT_MS,
    SQLITE_FILE,
    create_engine_for,
    database_url,
    session_factory,
)
from database.repositories import users
from tests.database.conftest import Backend


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@db:5432/od", "postgresql+asyncpg://u:p@db:5432/od"),
        ("postgresql://u@db/od", "postgresql+asyncpg://u@db/od"),
        ("postgresql+asyncpg://u@db/od", "postgresql+asyncpg://u@db/od"),
        ("sqlite:////srv/od.db", "sqlite+aiosqlite:////srv/od.db"),
    ],
)
def test_urls_are_normalised_to_async_drivers(given: str, expected: str) -> None:
    assert database_url(given, Path("/unused")).render_as_string(False) == expected


def test_no_url_means_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    url = database_url(None, tmp_path / "data")
    assert url.drivername == "sqlite+aiosqlite"
    assert url.database == str(tmp_path / "data" / SQLITE_FILE)


def test_other_backends_are_refused() -> None:
    with pytest.raises(ValueError, match="mysql"):
        database_url("mysql://u@h/db", Path("."))


async def test_sqlite_connections_get_wal_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    data_dir = tmp_path / "does" / "not" / "exist"
    engine = create_engine_for(None, data_dir)
    try:
        async with engine.connect() as conn:
            pragmas = [
                (await conn.execute(text(f"PRAGMA {name}"))).scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout")
            ]
    finally:
        await engine.dispose()
    assert pragmas == ["wal", 1, SQLITE_BUSY_TIMEOUT_MS]
    assert (data_dir / SQLITE_FILE).is_file()


async def test_switching_to_wal_waits_out_a_writer_that_holds_the_file(tmp_path: Path) -> None:
    """A second process connecting while the first migrates a new (rollback-journal) file:
    SQLite answers the WAL switch "database is locked" at once, without its busy handler
    (holding a read lock while a writer waits would deadlock), so the switch is retried."""
    engine = create_engine_for(None, tmp_path)
    writer = sqlite3.connect(tmp_path / SQLITE_FILE, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("CREATE TABLE first_migration (x INTEGER)")
        asyncio.get_running_loop().call_later(0.3, writer.execute, "COMMIT")
        async with engine.connect() as conn:
            mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar()
            tables = (await conn.execute(text("SELECT name FROM sqlite_master"))).scalars()
            assert (mode, list(tables)) == ("wal", ["first_migration"])
    finally:
        writer.close()
        await engine.dispose()


async def test_rows_stay_readable_after_their_unit_of_work(backend: Backend) -> None:
    engine = create_engine_for(backend.url, backend.data_dir)
    sessions = session_factory(engine)
    try:
        async with sessions() as s, s.begin():
            user = await users.create(s, email=f"{uuid.uuid4().hex}@x.org", password_hash="h")
        # With expire_on_commit=True this attribute access would need I/O and fail.
        assert user.email.endswith("@x.org")
        assert user.id > 0
    finally:
        await engine.dispose()
