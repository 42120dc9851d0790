"""The async engine and the session factory: SQLite by default, PostgreSQL when configured.

SQLite runs every transaction as BEGIN IMMEDIATE: writers then queue on busy_timeout
instead of failing with SQLITE_BUSY when a read-then-write transaction loses a race, and
SAVEPOINTs behave (the sqlite3 module's own transaction handling breaks both).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from sqlalchemy.util import await_

from common.events import LiveEvent

SQLITE_FILE = "opendeep.sqlite3"
SQLITE_BUSY_TIMEOUT_MS = 15_000
_WAL_RETRY_SECONDS = 0.05


def database_url(url: str | None, data_dir: Path) -> URL:
    """The async driver URL: None → the SQLite file in data_dir; postgres(ql):// → asyncpg."""
    if url is None or url == "":
        return make_url(f"sqlite+aiosqlite:///{Path(data_dir).resolve() / SQLITE_FILE}")
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend in {"postgresql", "postgres"}:
        return parsed.set(drivername="postgresql+asyncpg")
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    raise ValueError(f"unsupported database backend {backend!r}")


def create_engine_for(url: str | None, data_dir: Path, echo: bool = False) -> AsyncEngine:
    """Build the process's one engine; the caller disposes it on stop."""
    target = database_url(url, data_dir)
    if target.get_backend_name() == "sqlite":
        return _sqlite_engine(target, echo)
    # hide_parameters: bound values (phone numbers, transcripts, password hashes) never
    # appear in exception text, which the call path logs.
    return create_async_engine(target, echo=echo, pool_pre_ping=True, hide_parameters=True)


def _sqlite_engine(target: URL, echo: bool) -> AsyncEngine:
    if target.database and target.database != ":memory:":
        Path(target.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(target, echo=echo, hide_parameters=True)
    event.listen(engine.sync_engine, "connect", _on_sqlite_connect)
    event.listen(engine.sync_engine, "begin", _on_sqlite_begin)
    return engine


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Give SQLAlchemy transaction control (see module docstring); pragmas are per connection.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        _use_wal(cursor)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _use_wal(cursor: Any) -> None:
    """Switch the file to WAL (once per file: the mode is stored in it).

    The switch needs the file to itself. While another process holds a write lock on a
    new file (its first migration), SQLite answers "database is locked" at once rather
    than through busy_timeout, since waiting while holding a read lock could deadlock.
    So the switch is retried here until the busy timeout, yielding to the event loop
    (this runs in SQLAlchemy's greenlet), where other connections may be the writer.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        cursor.execute("PRAGMA journal_mode")
        if cursor.fetchone()[0] == "wal":
            return
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
        await_(asyncio.sleep(_WAL_RETRY_SECONDS))


def _on_sqlite_begin(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


LiveEvents = Sequence[tuple[int, LiveEvent]]
AfterCommit = Callable[[LiveEvents], None]
_SINK = "opendeep.after_commit"
_PENDING = "opendeep.live_events"


def session_factory(
    engine: AsyncEngine, after_commit: AfterCommit | None = None
) -> async_sessionmaker[AsyncSession]:
    """Sessions for one unit of work each: `async with sessions() as s, s.begin(): ...`.

    expire_on_commit=False so rows returned from a finished unit of work stay readable.
    `after_commit` receives the live events a transaction queued (`announce_after_commit`)
    once it has committed; a rolled-back transaction's events are dropped.
    """
    info = {_SINK: after_commit} if after_commit is not None else None
    return async_sessionmaker(engine, expire_on_commit=False, info=info)


def announce_after_commit(s: AsyncSession, user_id: int, live: LiveEvent) -> None:
    """Queue a live event that is true only if this transaction commits."""
    s.info.setdefault(_PENDING, []).append((user_id, live))


@event.listens_for(Session, "after_commit")
def _hand_over(session: Session) -> None:
    queued = session.info.pop(_PENDING, None)
    sink = session.info.get(_SINK)
    if queued and sink is not None:
        sink(queued)


@event.listens_for(Session, "after_rollback")
def _drop(session: Session) -> None:
    session.info.pop(_PENDING, None)


async def probe_database(url: str | None, data_dir: Path) -> str:
    """For `main.py doctor`: connect and run SELECT 1."""
    engine = create_engine_for(url, data_dir)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return f"{engine.dialect.name} answers"
    finally:
        await engine.dispose()
