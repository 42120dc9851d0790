"""The claim reads its candidates off indexes in claim order, never scanning or sorting
the backlog (issue 16: PostgreSQL sorted the whole due set on every claim, 189 ms at 100k
waiting; SQLite, without statistics, probed the priorities by sorting every waiting task).

The backlog is the benchmark's (benchmarks/scheduler_data.py): many users and campaigns,
a few paused, most waiting tasks not due yet, finished tasks next to them. PostgreSQL is
ANALYZEd after the bulk load, as autovacuum would; SQLite keeps no statistics, as in
production. No timings here: the plans and the answers are what is checked.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql import Executable

from benchmarks.scheduler_data import NOW, Shape, seed
from database import migrate
from database.engine import create_engine_for, session_factory
from database.models import Campaign, Task
from database.repositories import claim_candidates, tasks
from database.repositories.claim_candidates import (
    CLAIMABLE,
    NULLS_FIRST,
    Candidate,
    due_query,
    lapsed_query,
    ordered_scans,
    priorities_query,
)
from database.states import CampaignStatus
from tests.database.conftest import BACKENDS, Backend, _backend

Sessions = async_sessionmaker[AsyncSession]
LEASE = timedelta(minutes=2)
WAITING = 60_000  # 90,000 tasks in all, 120 users, 600 campaigns


async def _seeded(made: Backend, waiting: int = WAITING) -> None:
    """Migrated, then the benchmark's backlog of `waiting` tasks (and the rest)."""
    await migrate.upgrade(made.url, made.data_dir)
    engine = create_engine_for(made.url, made.data_dir)
    try:
        await seed(engine, made.url, made.data_dir, Shape(waiting))
        if made.url is not None:
            async with engine.begin() as conn:
                await conn.execute(text("ANALYZE"))
    finally:
        await engine.dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def backlog(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    for made in _backend(request.param, request, tmp_path_factory):
        asyncio.run(_seeded(made))
        yield made


@pytest.fixture
async def sessions(backlog: Backend) -> AsyncIterator[Sessions]:
    engine = create_engine_for(backlog.url, backlog.data_dir)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


def _looks(priorities: list[int], passed_over: set[int]) -> dict[str, Executable]:
    looks: dict[str, Executable] = {
        "lapsed": lapsed_query(NOW, 300, passed_over),
        "priorities": priorities_query(),
    }
    looks |= {f"due at {p}": due_query(NOW, p, 300, passed_over) for p in priorities}
    return looks


async def _plans(s: AsyncSession, passed_over: set[int]) -> dict[str, str]:
    dialect = s.get_bind().dialect
    explain = "EXPLAIN QUERY PLAN" if dialect.name == "sqlite" else "EXPLAIN"
    column = 3 if dialect.name == "sqlite" else 0
    priorities = list(await s.scalars(priorities_query()))
    assert len(priorities) == 4  # benchmarks/scheduler_data.py PRIORITIES
    plans = {}
    async with ordered_scans(s):  # as claim_candidates.candidates runs them
        for name, query in _looks(priorities, passed_over).items():
            sql = query.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
            rows = await s.execute(text(f"{explain} {sql}"))
            plans[name] = "\n".join(str(row[column]) for row in rows)
    return plans


async def test_each_look_reads_its_index_without_sorting(
    backlog: Backend, sessions: Sessions
) -> None:
    async with sessions() as s:
        plans = await _plans(s, passed_over={1, 2, 3})
    if backlog.name == "postgres":
        _assert_postgres_plans(plans)
    else:
        _assert_sqlite_plans(plans)


def _assert_postgres_plans(plans: dict[str, str]) -> None:
    for name, plan in plans.items():
        assert "Seq Scan on tasks" not in plan, (name, plan)
        assert "Sort" not in plan, (name, plan)
        assert "Bitmap" not in plan, (name, plan)  # a bitmap scan returns rows unordered
    assert "Index Scan using ix_tasks_scheduled_lease" in plans["lapsed"], plans["lapsed"]
    assert "Backward using ix_tasks_claim_order" in plans["priorities"], plans["priorities"]
    for name in (n for n in plans if n.startswith("due at")):
        # the dated ones and the never-scheduled ones: one range of the index each
        assert plans[name].count("Index Scan Backward using ix_tasks_claim_order") == 2, (
            name,
            plans[name],
        )
        assert "Seq Scan on campaigns" not in plans[name], plans[name]  # paused: probed


def _assert_sqlite_plans(plans: dict[str, str]) -> None:
    """No statistics (production SQLite files have none), so no ANALYZE before."""
    for name, plan in plans.items():
        assert "TEMP B-TREE" not in plan, (name, plan)  # SQLite's sort
        assert "SCAN tasks\n" not in plan + "\n", (name, plan)  # the whole table
    assert "USING INDEX ix_tasks_scheduled_lease (lease_expires_at<?)" in plans["lapsed"]
    assert "USING INDEX ix_tasks_claim_order (priority<?)" in plans["priorities"]
    for name in (n for n in plans if n.startswith("due at")):
        assert "ix_tasks_claim_order (priority=? AND next_action_time<?)" in plans[name]
        assert "ix_tasks_claim_order (priority=? AND next_action_time=?)" in plans[name]


async def _claim_order_by_hand(s: AsyncSession, passed_over: set[int]) -> list[Candidate]:
    """Every due task not passed over and not in a paused campaign, sorted in Python."""
    paused = set(
        await s.scalars(select(Campaign.id).where(Campaign.status == CampaignStatus.PAUSED))
    )
    rows = await s.execute(
        select(Task.id, Task.user_id, Task.priority, Task.campaign_id, Task.next_action_time)
        .where(Task.status.in_(CLAIMABLE))
    )  # fmt: skip
    nulls_first = NULLS_FIRST.get(s.get_bind().dialect.name, False)
    keyed = [
        ((-priority, (due is None) != nulls_first, due or NOW, id_), Candidate(id_, user, priority))
        for id_, user, priority, campaign, due in rows
        if (due is None or due <= NOW) and campaign not in paused and id_ not in passed_over
    ]
    return [candidate for _, candidate in sorted(keyed)]


async def test_the_candidates_are_the_due_tasks_in_claim_order(sessions: Sessions) -> None:
    """The per-priority looks give exactly what one ORDER BY over all due tasks would,
    across priorities and with the never-scheduled tasks where the database puts NULLs."""
    async with sessions() as s:
        expected = await _claim_order_by_hand(s, passed_over=set())
        skipped = {c.id for c in expected[:40:3]}
        for limit in (50, 300, 5_000):
            got = await claim_candidates.candidates(s, NOW, limit, passed_over=set())
            assert got == expected[:limit]
        got = await claim_candidates.candidates(s, NOW, 300, passed_over=skipped)
        assert got == [c for c in expected if c.id not in skipped][:300]
    assert len({c.priority for c in expected[:5_000]}) >= 3  # it crossed priorities


async def test_a_claim_of_fifty_takes_the_first_due_tasks_taking_turns(
    sessions: Sessions,
) -> None:
    async with sessions() as s:
        expected = await _claim_order_by_hand(s, passed_over=set())
    async with sessions() as s, s.begin():
        claimed = await tasks.claim_due(
            s, now=NOW, node_id="n", lease=timedelta(minutes=2), limit=50
        )
    top = tasks.take_turns(expected[: 50 * tasks.FAIR_WINDOW], 50, None, {})
    assert [t.id for t in claimed] == [c.id for c in top]


@pytest.fixture
def empty_postgres(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    for made in _backend("postgres", request, tmp_path_factory):
        asyncio.run(migrate.upgrade(made.url, made.data_dir))
        yield made


@pytest.mark.postgres
async def test_the_planner_settings_are_put_back_after_the_looks(empty_postgres: Backend) -> None:
    """The ordered-scan settings hold for the looks only: the rest of the claim's
    transaction plans as the server is configured (here: sorts already off for it)."""
    engine = create_engine_for(empty_postgres.url, empty_postgres.data_dir)
    settings = text("SELECT current_setting('enable_bitmapscan'), current_setting('enable_sort')")
    try:
        async with session_factory(engine)() as s, s.begin():
            await s.execute(text("SET LOCAL enable_sort = off"))
            async with ordered_scans(s):
                assert tuple((await s.execute(settings)).one()) == ("off", "off")
            assert tuple((await s.execute(settings)).one()) == ("on", "off")
            await claim_candidates.candidates(s, NOW, 300, passed_over=set())
            assert tuple((await s.execute(settings)).one()) == ("on", "off")
    finally:
        await engine.dispose()
