"""Two scheduler processes on one PostgreSQL database (separate engines and pools, claiming
concurrently), 200 due tasks, capacity 5 each: every task dialed exactly once per attempt."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from database.engine import create_engine_for, session_factory
from database.repositories import tasks
from task_manager.post_call_analyzer import Backoff, PostCallAnalyzer
from task_manager.scheduler import TaskSchedulerService
from tests.task_manager.helpers import (
    NEW_YORK,
    WEDNESDAY_15_UTC,
    FakeClock,
    FakeLauncher,
    Sessions,
    make_user,
    report,
    scheduler_on,
)

pytestmark = pytest.mark.postgres
RETRY_AT_ONCE = Backoff(base={}, default=timedelta(0), jitter=0.0)


async def test_every_task_is_dialed_once_per_attempt(pg_url: str, tmp_path: Path) -> None:
    engines = [create_engine_for(pg_url, tmp_path) for _ in range(2)]
    try:
        sessions = [session_factory(e) for e in engines]
        user = await make_user(sessions[0])
        async with sessions[0]() as s, s.begin():
            rows = await tasks.create_many(s, user_id=user.id, campaign_id=None, tasks=[
                tasks.NewTask(phone_number=NEW_YORK, objective=f"o{i}", max_attempts=2)
                for i in range(200)
            ])  # fmt: skip
        busy_first = {r.id for r in rows if r.id % 2 == 0}  # these need a second attempt
        clock = FakeClock(WEDNESDAY_15_UTC)
        launchers = [FakeLauncher(slots=5), FakeLauncher(slots=5)]
        schedulers = [
            process(n, ses, launcher, clock)
            for n, (ses, launcher) in enumerate(zip(sessions, launchers, strict=True))
        ]
        idle_rounds = 0
        while idle_rounds < 2:
            launched = await asyncio.gather(*(s.tick() for s in schedulers))
            idle_rounds = 0 if any(launched) else idle_rounds + 1
            await asyncio.gather(*(finish_all(launcher, busy_first) for launcher in launchers))
    finally:
        for engine in engines:
            await engine.dispose()

    dialed = Counter((c.task_id, c.attempt_number) for lnch in launchers for c in lnch.launched)
    assert max(dialed.values()) == 1
    expected = {(r.id, 1) for r in rows} | {(t, 2) for t in busy_first}
    assert set(dialed) == expected
    assert all(len(launcher.launched) > 50 for launcher in launchers)  # both really claimed


def process(
    n: int, sessions: Sessions, launcher: FakeLauncher, clock: FakeClock
) -> TaskSchedulerService:
    """One "process": its own engine's sessions, launcher, analyzer and node id."""
    analyzer = PostCallAnalyzer(sessions, backoff=RETRY_AT_ONCE, clock=clock, rng=random.Random(n))
    return scheduler_on(
        sessions, launcher, clock, on_call_done=analyzer.on_call_done, node_id=f"node-{n}"
    )


async def finish_all(launcher: FakeLauncher, busy_first: set[int]) -> None:
    for task_id in list(launcher.active):
        call, _ = launcher.active[task_id]
        busy = task_id in busy_first and call.attempt_number == 1
        status = "busy" if busy else "completed"
        await launcher.finish(task_id, report(status, agent_outcome="success"))
