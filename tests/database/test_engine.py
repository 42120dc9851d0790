"""The engine factory: URL normalisation, SQLite connection settings, session behaviour."""

from __future__ import annotations

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
