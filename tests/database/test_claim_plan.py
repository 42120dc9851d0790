"""The claim reads its candidates off an index in claim order, never sorting the backlog
(issue 16: PostgreSQL sorted the whole due set on every claim: 189 ms at 100k pending)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from database import migrate
from database.engine import create_engine_for, session_factory
from database.models import Campaign, Task
from database.repositories import tasks, users
from database.repositories.tasks import candidates_query
from database.states import CampaignStatus, TaskStatus
from tests.database.conftest import Backend, _backend

Sessions = async_sessionmaker[AsyncSession]

NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)
BACKLOG = 20_000
CAMPAIGNS = 2_000  # 20 of them paused


@pytest.fixture
def pg_backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    """A fresh, migrated PostgreSQL database (the plan is PostgreSQL's)."""
    for made in _backend("postgres", request, tmp_path_factory):
        asyncio.run(migrate.upgrade(made.url, made.data_dir))
        yield made


@pytest.fixture
async def pg_sessions(pg_backend: Backend) -> AsyncIterator[Sessions]:
    engine = create_engine_for(pg_backend.url, pg_backend.data_dir)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_the_claims_looks_are_index_scans_in_claim_order(pg_sessions: Sessions) -> None:
    async with pg_sessions() as s, s.begin():
        user = await users.create(s, email="plan@example.org", password_hash="x")
        await s.execute(insert(Campaign), [
            {"user_id": user.id, "name": f"c{i}", "goal": "", "status":
             CampaignStatus.PAUSED if i % 100 == 0 else CampaignStatus.ACTIVE}
            for i in range(CAMPAIGNS)
        ])  # fmt: skip
        await s.execute(insert(Task), [
            {"user_id": user.id, "phone_number": f"+1555{i:07d}", "objective": "o",
             "status": TaskStatus.PENDING if i % 10 else TaskStatus.SCHEDULED,
             "priority": i % 7, "next_action_time": NOW - timedelta(minutes=i % 500),
             "lease_expires_at": NOW + timedelta(minutes=1), "inter_call_context": {},
             "version": 1, "campaign_id": 1 + i % CAMPAIGNS}
            for i in range(BACKLOG)
        ])  # fmt: skip
    async with pg_sessions() as s:
        await s.execute(text("ANALYZE tasks"))
        await s.execute(text("ANALYZE campaigns"))
        plans = []
        for query in candidates_query(NOW, 300, set()):
            sql = query.compile(
                dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
            )
            rows = await s.execute(text(f"EXPLAIN {sql}"))
            plans.append("\n".join(row[0] for row in rows))
    lapsed, due = plans
    assert "Index Scan Backward using ix_tasks_claim_order" in due, due
    assert "Sort" not in due, due
    assert "Seq Scan" not in lapsed, lapsed
    assert "Seq Scan" not in due, due  # paused campaigns by their partial index, not a scan
    async with pg_sessions() as s, s.begin():
        claimed = await tasks.claim_due(s, now=NOW, node_id="n", lease=timedelta(minutes=2),
                                        limit=50)  # fmt: skip
    assert [t.priority for t in claimed] == [6] * 50
    assert all(
        t.campaign_id % 100 != 1 for t in claimed
    )  # campaign 1, 101, ... are paused  # the top priority, longest due first
    times = [t.next_action_time for t in claimed]
    assert times == sorted(times)
