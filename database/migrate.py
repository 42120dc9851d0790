"""Schema migrations, run programmatically (main.py calls `upgrade` at start-up).

Safe to call at head (a no-op) and from several processes at once: on PostgreSQL the
whole run holds a transaction-scoped advisory lock, on SQLite the BEGIN IMMEDIATE
transaction serialises it. DDL is transactional on both, so a failed run leaves nothing.

On SQLite a run has foreign keys off: Alembic's batch mode alters a table by rebuilding
it, and the rebuild's DROP TABLE of the old copy would, with foreign keys on, delete every
row that references it (ON DELETE CASCADE: a rebuilt `campaigns` took every task, call and
transcript with it). The run ends with PRAGMA foreign_key_check, so it cannot leave a
dangling reference behind either (docs/architecture.md, Migrations).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from database.engine import create_engine_for

SCRIPT_LOCATION = Path(__file__).resolve().parent / "migrations"
ADVISORY_LOCK_KEY = 0x6F70656E64656570  # "opendeep"; fits a signed bigint


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic Config with no ini file and no dependence on the working directory."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.attributes["connection"] = connection
    return config


async def upgrade(url: str | None, data_dir: Path, revision: str = "head") -> None:
    engine = create_engine_for(url, data_dir)
    try:
        await upgrade_engine(engine, revision)
    finally:
        await engine.dispose()


async def downgrade(url: str | None, data_dir: Path, revision: str) -> None:
    """revision: an id, "-1" for one step back, or "base" for an empty schema."""
    engine = create_engine_for(url, data_dir)
    try:
        async with _migrating(engine) as conn:
            await conn.run_sync(lambda sync: command.downgrade(alembic_config(sync), revision))
    finally:
        await engine.dispose()


async def current(url: str | None, data_dir: Path) -> str | None:
    """The revision the database is at, None when never migrated."""
    engine = create_engine_for(url, data_dir)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_current_revision)
    finally:
        await engine.dispose()


async def upgrade_engine(engine: AsyncEngine, revision: str = "head") -> None:
    """Upgrade through an engine the caller owns (tests, or main.py reusing its engine)."""
    async with _migrating(engine) as conn:
        await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))


async def autogenerate(url: str | None, data_dir: Path, message: str, rev_id: str) -> None:
    """Write a new revision from the model diff against a database at head (developers only).

    Generate against PostgreSQL (plain ALTERs), then review the file by hand.
    """
    engine = create_engine_for(url, data_dir)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(
                lambda sync: command.revision(
                    alembic_config(sync), message=message, autogenerate=True, rev_id=rev_id
                )
            )
    finally:
        await engine.dispose()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


@contextlib.asynccontextmanager
async def _migrating(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One transaction for the whole run, locked; on SQLite with foreign keys off for it
    and checked before it commits (see the module docstring)."""
    async with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:  # outside any transaction: inside one, SQLite ignores the pragma
            await conn.run_sync(_pragma, "PRAGMA foreign_keys=OFF")
        try:
            async with conn.begin():
                await _lock(conn)
                yield conn
                if sqlite:
                    await _check_references(conn)
        finally:
            if sqlite:
                await conn.run_sync(_pragma, "PRAGMA foreign_keys=ON")


def _pragma(connection: Connection, statement: str) -> None:
    """On the driver's connection, not through SQLAlchemy, which would begin a transaction."""
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]  # checked out: never None
    try:
        cursor.execute(statement)
    finally:
        cursor.close()


async def _check_references(conn: AsyncConnection) -> None:
    dangling = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).all()
    if dangling:
        tables = sorted({str(row[0]) for row in dangling})
        raise RuntimeError(f"migration left rows pointing at nothing in: {', '.join(tables)}")


async def _lock(conn: AsyncConnection) -> None:
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
