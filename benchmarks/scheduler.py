"""Scheduler claims under a backlog: 100,000 pending tasks, claimed 50 at a time.

Each batch is one unit of work, exactly as the scheduler loop runs it:
`async with sessions() as s, s.begin(): await tasks.claim_due(...)`. PostgreSQL gets a
throw-away database (created and dropped here); SQLite a file in a temporary folder.
"""

from __future__ import annotations

import random
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from benchmarks.stats import summary_ms
from database import migrate
from database.engine import create_engine_for, session_factory
from database.models import Task
from database.repositories import tasks, users
from database.states import TaskStatus

INSERT_CHUNK = 5_000
NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


async def bench_backend(
    url: str | None, data_dir: Path, *, pending: int, batch: int, batches: int
) -> dict[str, Any]:
    await migrate.upgrade(url, data_dir)
    engine = create_engine_for(url, data_dir)
    try:
        fill_s = await _fill(engine, pending)
        latencies, claimed = await _claim(engine, batch, batches)
    finally:
        await engine.dispose()
    total = sum(latencies)
    return {
        "pending": pending,
        "batch": batch,
        "batches": len(latencies),
        "claimed": claimed,
        "fill_s": round(fill_s, 1),
        "claim_ms": summary_ms(latencies),
        "claims_per_second": round(claimed / total) if total else 0,
    }


async def _fill(engine: AsyncEngine, pending: int) -> float:
    """The backlog: due tasks of mixed priority, some never scheduled, some due a while ago."""
    started = time.monotonic()
    sessions = session_factory(engine)
    rng = random.Random(1)
    async with sessions() as s, s.begin():
        user = await users.create(s, email="bench@example.com", password_hash="x")
        user_id = user.id
    for first in range(0, pending, INSERT_CHUNK):
        rows = [_row(user_id, i, rng) for i in range(first, min(pending, first + INSERT_CHUNK))]
        async with sessions() as s, s.begin():
            await s.execute(insert(Task), rows)
    return time.monotonic() - started


def _row(user_id: int, i: int, rng: random.Random) -> dict[str, Any]:
    due = None if i % 4 == 0 else NOW - timedelta(minutes=rng.randrange(1, 10_000))
    return {
        "user_id": user_id,
        "phone_number": f"+1555{i:07d}",
        "objective": "benchmark",
        "status": TaskStatus.PENDING,
        "priority": rng.randrange(10),
        "next_action_time": due,
        "inter_call_context": {},
        "version": 1,
    }


async def _claim(engine: AsyncEngine, batch: int, batches: int) -> tuple[list[float], int]:
    """Seconds per batch, and how many tasks were claimed in all."""
    sessions = session_factory(engine)
    latencies: list[float] = []
    claimed_total = 0
    for _ in range(batches):
        started = time.perf_counter()
        async with sessions() as s, s.begin():
            claimed = await tasks.claim_due(
                s, now=NOW, node_id="bench", lease=timedelta(minutes=5), limit=batch
            )
        latencies.append(time.perf_counter() - started)
        claimed_total += len(claimed)
        if len(claimed) < batch:
            break
    return latencies, claimed_total


async def bench_sqlite(**kw: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="opendeep-bench-") as folder:
        return await bench_backend(None, Path(folder), **kw)


async def bench_postgres(postgres_url: str, **kw: int) -> dict[str, Any]:
    admin = make_url(postgres_url).set(drivername="postgresql").render_as_string(False)
    name = f"opendeep_bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(admin, timeout=10)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
        try:
            url = make_url(postgres_url).set(database=name).render_as_string(False)
            with tempfile.TemporaryDirectory(prefix="opendeep-bench-") as folder:
                return await bench_backend(url, Path(folder), **kw)
        finally:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
