"""The scheduler's claim: due work by priority, once, until the lease runs out; races split work.

Its own module, so its own database: claim_due works across all users and would
otherwise take tasks other test modules are still looking at.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from database.repositories import tasks
from database.states import TaskStatus
from tests.database.conftest import make_user

Sessions = async_sessionmaker[AsyncSession]
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)


async def test_claim_due_takes_due_work_by_priority_once(sessions: Sessions) -> None:
    user = await make_user(sessions)
    far_future = T0 + timedelta(days=3650)
    async with sessions() as s, s.begin():
        low, high, future = await tasks.create_many(
            s, user_id=user.id, campaign_id=None,
            tasks=[
                tasks.NewTask("+15550000001", "low", priority=1, next_action_time=T0),
                tasks.NewTask("+15550000002", "high", priority=9, next_action_time=T0),
                tasks.NewTask("+15550000003", "later", priority=9, next_action_time=far_future),
            ],
        )  # fmt: skip
    now = T0 + timedelta(minutes=1)
    mine = {low.id, high.id, future.id}
    async with sessions() as s, s.begin():
        claimed = await tasks.claim_due(
            s, now=now, node_id="n1", lease=timedelta(minutes=5), limit=1000
        )
        claimed_mine = [t for t in claimed if t.id in mine]
    assert [t.objective for t in claimed_mine] == ["high", "low"]
    assert all(t.status == TaskStatus.SCHEDULED and t.claimed_by == "n1" for t in claimed_mine)
    async with sessions() as s, s.begin():
        again = await tasks.claim_due(
            s, now=now, node_id="n2", lease=timedelta(minutes=5), limit=1000
        )
    assert mine.isdisjoint(t.id for t in again)
    async with sessions() as s, s.begin():  # the lease ran out: another node may take it over
        expired = await tasks.claim_due(
            s, now=now + timedelta(minutes=6), node_id="n2", lease=timedelta(minutes=5), limit=1000
        )
    assert {t.id for t in expired if t.id in mine} == {low.id, high.id}


async def test_concurrent_claims_never_take_the_same_task(sessions: Sessions) -> None:
    user = await make_user(sessions)
    async with sessions() as s, s.begin():
        created = await tasks.create_many(
            s,
            user_id=user.id,
            campaign_id=None,
            tasks=[
                tasks.NewTask(f"+1555000{i:04d}", str(i), next_action_time=T0) for i in range(40)
            ],
        )
    mine = {t.id for t in created}

    async def claim(node: str) -> list[int]:
        async with sessions() as s, s.begin():
            got = await tasks.claim_due(s, now=T0, node_id=node, lease=LEASE, limit=7)
            await asyncio.sleep(0.01)  # hold the transaction open so the claims overlap
            return [t.id for t in got if t.id in mine]

    rounds = [claim(f"node-{i}") for i in range(8)]
    claimed = [
        task_id for ids in await asyncio.wait_for(asyncio.gather(*rounds), 60) for task_id in ids
    ]
    assert len(claimed) == len(set(claimed))
    assert set(claimed) == mine
