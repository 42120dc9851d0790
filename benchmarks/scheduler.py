"""Scheduler claims under a realistic backlog (benchmarks/scheduler_data.py), 50 at a time.

Two measurements per backend and backlog size, on the same data, one after the other:
- *claim*: `tasks.claim_due(limit=50)` in its own unit of work, exactly the scheduler's
  claim transaction (the claimed tasks become `scheduled`);
- *tick*: the scheduler's whole `tick()` with room for 50 calls: claims, the per-task
  decisions in the same transaction (do-not-call → cancelled_dnd, outside the callee's
  hours → deferred to their window, attempts used → failed) and 50 calls launched to a
  launcher that only records them (the launched tasks become `in_progress`, as in
  production; deferred ones leave the due set, so a tick may need a second claim).
PostgreSQL gets a throw-away database (created and dropped here, ANALYZEd after the bulk
load as autovacuum would); SQLite a file in a temporary folder (no ANALYZE: production
SQLite files have no statistics either).
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from benchmarks.scheduler_data import NOW, Shape, seed
from benchmarks.stats import summary_ms
from call_processor.finished_call import FinishedCall
from config.settings import CallingSettings
from database import migrate
from database.engine import create_engine_for, session_factory
from database.repositories import claim_candidates, tasks
from task_manager.call_launcher import OnCallDone, PlannedCall
from task_manager.scheduler import TaskSchedulerService

Sessions = async_sessionmaker[AsyncSession]
LEASE = timedelta(minutes=5)


async def bench_backend(
    url: str | None, data_dir: Path, *, pending: int, batch: int, batches: int
) -> dict[str, Any]:
    await migrate.upgrade(url, data_dir)
    engine = create_engine_for(url, data_dir)
    try:
        started = time.monotonic()
        shape = Shape(pending)
        await seed(engine, url, data_dir, shape)
        if url is not None:
            async with engine.begin() as conn:
                await conn.execute(text("ANALYZE"))
        fill_s = time.monotonic() - started
        sessions = session_factory(engine)
        due = await _due(sessions)
        claim = await _timed(batches, batch, _claimer(sessions, batch))
        tick = await _timed(batches, batch, _ticker(sessions, batch))
    finally:
        await engine.dispose()
    return {
        "pending": pending,
        "users": shape.users,
        "campaigns": shape.campaigns,
        "finished": shape.finished,
        "due": due,
        "batch": batch,
        "fill_s": round(fill_s, 1),
        "claim": claim,
        "tick": tick,
    }


async def _due(sessions: Sessions) -> int:
    async with sessions() as s:
        return int(await s.scalar(select(func.count()).where(claim_candidates.due_now(NOW))) or 0)


async def _timed(batches: int, batch: int, one: Callable[[], Awaitable[int]]) -> dict[str, Any]:
    """Run `one` up to `batches` times, stopping after the first short batch (the due set
    is used up): milliseconds per batch, with the load average before and after."""
    load_before = os.getloadavg()[0]
    latencies: list[float] = []
    done = 0
    for _ in range(batches):
        started = time.perf_counter()
        got = await one()
        latencies.append(time.perf_counter() - started)
        done += got
        if got < batch:
            break
    total = sum(latencies)
    return {
        "batches": len(latencies),
        "tasks": done,
        "ms": summary_ms(latencies),
        "per_second": round(done / total) if total else 0,
        "load_avg": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def _claimer(sessions: Sessions, batch: int) -> Callable[[], Awaitable[int]]:
    async def claim() -> int:
        async with sessions() as s, s.begin():
            claimed = await tasks.claim_due(s, now=NOW, node_id="bench", lease=LEASE, limit=batch)
        return len(claimed)

    return claim


class _RecordingLauncher:
    """Room for `batch` calls per tick; launching only counts (no call is placed)."""

    def __init__(self, batch: int) -> None:
        self.room = batch

    def capacity(self) -> int:
        return self.room

    def launch(self, call: PlannedCall, on_done: OnCallDone) -> None:
        self.room -= 1


async def _never_done(call: PlannedCall, finished: FinishedCall) -> None:
    raise AssertionError("the benchmark launcher never ends a call")


def _ticker(sessions: Sessions, batch: int) -> Callable[[], Awaitable[int]]:
    """One scheduler tick per call with room for `batch` calls: how many it launched."""
    launcher = _RecordingLauncher(batch)
    service = TaskSchedulerService(
        sessions=sessions, launcher=launcher, on_call_done=_never_done,
        calling=CallingSettings(), node_id="bench", lease=LEASE, clock=lambda: NOW,
    )  # fmt: skip

    async def tick() -> int:
        launcher.room = batch
        return len(await service.tick())

    return tick


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
