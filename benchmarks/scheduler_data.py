"""A realistic backlog for the scheduler benchmark, written in bulk (COPY / executemany).

What a busy platform's tasks table looks like: many users and campaigns (a few paused),
finished tasks next to waiting ones, most waiting tasks not due yet (retries and
deferrals wait for a later time), callees in six time zones (at NOW some are outside the
calling hours), a few numbers on do-not-call lists, a few priorities. Deterministic
(seeded), so every run and backend claims from the same data.
"""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from database.engine import SQLITE_FILE
from database.models import Campaign, DndEntry, User
from database.states import CampaignStatus, TaskStatus

# A Tuesday, 15:00 UTC: 10:00 in New York and 16:00 in Berlin (inside the default 09-20
# window), 07:00 in Los Angeles, midnight in Tokyo, 02:00 in Sydney (outside).
NOW = datetime(2030, 1, 1, 15, 0, tzinfo=UTC)
# (number prefix, digits after it, weight): where the callees live.
REGIONS = (("+1212", 7, 35), ("+1310", 7, 15), ("+4420", 8, 20), ("+4930", 8, 20),
           ("+813", 8, 5), ("+612", 8, 5))  # fmt: skip
PRIORITIES = ((0, 75), (5, 15), (10, 8), (50, 2))
TASKS_PER_USER = 500
TASKS_PER_CAMPAIGN = 100
FINISHED_PER_WAITING = 0.5  # succeeded / failed / cancelled rows next to the backlog
CHUNK = 20_000
TASK_COLUMNS = (
    "user_id", "campaign_id", "contact_name", "phone_number", "objective", "context",
    "success_criteria", "status", "attempt_count", "max_attempts", "next_action_time",
    "priority", "inter_call_context", "version", "created_at", "updated_at",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Shape:
    """How many of everything a backlog of `pending` waiting tasks comes with."""

    pending: int

    @property
    def users(self) -> int:
        return max(4, self.pending // TASKS_PER_USER)

    @property
    def campaigns(self) -> int:
        return max(4, self.pending // TASKS_PER_CAMPAIGN)

    @property
    def finished(self) -> int:
        return int(self.pending * FINISHED_PER_WAITING)

    def campaign_owner(self, campaign_id: int) -> int:
        return 1 + (campaign_id - 1) % self.users


def _weighted(rng: random.Random, table: tuple[tuple[Any, ...], ...]) -> tuple[Any, ...]:
    return rng.choices(table, weights=[row[-1] for row in table])[0]


def _number(rng: random.Random, i: int) -> str:
    prefix, digits, _ = _weighted(rng, REGIONS)
    return f"{prefix}{i % 10**digits:0{digits}d}"


def _waiting(rng: random.Random) -> tuple[TaskStatus, int, datetime | None]:
    """Status, attempts made, next_action_time: ~20% due (5% never scheduled), the rest
    waiting for a later time (a retry's back-off, a deferral to the callee's window)."""
    roll = rng.random()
    attempts = 0 if rng.random() < 0.7 else rng.randrange(1, 3)
    status = TaskStatus.RETRY_SCHEDULED if attempts else TaskStatus.PENDING
    if roll < 0.05 and not attempts:
        return status, 0, None
    if roll < 0.20:
        return status, attempts, NOW - timedelta(minutes=rng.randrange(1, 3 * 24 * 60))
    return status, attempts, NOW + timedelta(minutes=rng.randrange(1, 7 * 24 * 60))


def _finished(rng: random.Random) -> tuple[TaskStatus, int, datetime | None]:
    status = rng.choice(
        [TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.CANCELLED_DND]
    )
    return status, rng.randrange(1, 4), None


def task_rows(shape: Shape, seed: int = 1) -> Iterator[tuple[Any, ...]]:
    """The tasks, waiting and finished, as tuples in TASK_COLUMNS order."""
    rng = random.Random(seed)
    for i in range(shape.pending + shape.finished):
        status, attempts, due = _waiting(rng) if i < shape.pending else _finished(rng)
        campaign_id = rng.randrange(1, shape.campaigns + 1) if rng.random() < 0.9 else None
        user_id = (
            shape.campaign_owner(campaign_id) if campaign_id else rng.randrange(1, shape.users + 1)
        )
        created = NOW - timedelta(days=8)
        yield (
            user_id, campaign_id, f"Contact {i}", _number(rng, i), "Book a cleaning", "", "",
            status.value, attempts, 3, due, _weighted(rng, PRIORITIES)[0], {}, 1, created,
            created,
        )  # fmt: skip


def user_rows(shape: Shape) -> list[dict[str, Any]]:
    zones = ("America/New_York", "Europe/Berlin", "Europe/London", "America/Los_Angeles")
    return [
        {"email": f"bench{u}@example.org", "password_hash": "x", "time_zone": zones[u % 4]}
        for u in range(1, shape.users + 1)
    ]


def campaign_rows(shape: Shape) -> list[dict[str, Any]]:
    """Campaign c belongs to user 1 + (c - 1) % users; 3% paused, 10% call 10:00-17:00."""
    rows = []
    for c in range(1, shape.campaigns + 1):
        narrow = c % 10 == 3
        rows.append({
            "user_id": shape.campaign_owner(c), "name": f"campaign {c}", "goal": "",
            "status": CampaignStatus.PAUSED if c % 33 == 0 else CampaignStatus.ACTIVE,
            "window_start": time(10) if narrow else None,
            "window_end": time(17) if narrow else None,
        })  # fmt: skip
    return rows


def dnd_rows(shape: Shape, seed: int = 1) -> list[dict[str, Any]]:
    """2% of the waiting tasks' numbers: half on the operator's list, half on their user's."""
    rows = []
    for n, row in enumerate(task_rows(shape, seed)):
        if n >= shape.pending:
            break
        if n % 50 == 7:
            user_id, number = row[0], row[3]
            rows.append({"user_id": None if n % 100 == 7 else user_id, "phone_number": number})
    return rows


async def seed(engine: AsyncEngine, url: str | None, data_dir: Path, shape: Shape) -> None:
    """Users, campaigns and DND entries through SQLAlchemy; the tasks in bulk."""
    async with engine.begin() as conn:
        await conn.execute(insert(User), user_rows(shape))
        await conn.execute(insert(Campaign), campaign_rows(shape))
        await conn.execute(insert(DndEntry), dnd_rows(shape))
    if url is None:
        _sqlite_tasks(data_dir / SQLITE_FILE, shape)
    else:
        await _postgres_tasks(url, shape)


def _sqlite_tasks(path: Path, shape: Shape) -> None:
    """One transaction of executemany chunks; values in the form SQLAlchemy stores them."""
    marks = ", ".join("?" for _ in TASK_COLUMNS)
    sql = f"INSERT INTO tasks ({', '.join(TASK_COLUMNS)}) VALUES ({marks})"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        for chunk in _chunks(task_rows(shape)):
            conn.executemany(sql, [tuple(_sqlite_value(v) for v in row) for row in chunk])
        conn.execute("COMMIT")
    finally:
        conn.close()


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):  # naive UTC, as database/types.py UtcDateTime stores it
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dict):
        return json.dumps(value)
    return value


async def _postgres_tasks(url: str, shape: Shape) -> None:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(False)
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        for chunk in _chunks(task_rows(shape)):
            records = [tuple(json.dumps(v) if isinstance(v, dict) else v for v in r) for r in chunk]
            await conn.copy_records_to_table("tasks", records=records, columns=TASK_COLUMNS)
    finally:
        await conn.close()


def _chunks(rows: Iterator[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
