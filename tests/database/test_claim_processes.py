"""Several processes claim from one PostgreSQL backlog at once (FOR UPDATE SKIP LOCKED):
every due task is claimed by exactly one of them, and nothing else is claimed.

The backlog is the benchmark's realistic one (benchmarks/scheduler_data.py), so the
claimers race across priorities, never-scheduled tasks and paused campaigns.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.scheduler_data import NOW
from database.engine import create_engine_for, session_factory
from tests.database.conftest import Backend, _backend
from tests.database.test_claim_plan import _claim_order_by_hand, _seeded

REPO = Path(__file__).resolve().parents[2]
CLAIMERS = 3
WAITING = 6_000  # about 1,200 of them due


@pytest.fixture
def backlog(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    for made in _backend("postgres", request, tmp_path_factory):
        asyncio.run(_seeded(made, WAITING))
        yield made


async def _claimer(url: str, node_id: str) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.claimer", url, node_id, "25", NOW.isoformat(),
        cwd=REPO, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert await asyncio.wait_for(process.stdout.readline(), 60) == b"ready\n"  # type: ignore[union-attr]
    return process


@pytest.mark.postgres
async def test_claimers_in_separate_processes_split_the_due_tasks(backlog: Backend) -> None:
    assert backlog.url is not None
    engine = create_engine_for(backlog.url, backlog.data_dir)
    try:
        async with session_factory(engine)() as s:
            due = {c.id for c in await _claim_order_by_hand(s, passed_over=set())}
    finally:
        await engine.dispose()
    processes = [await _claimer(backlog.url, f"node-{n}") for n in range(CLAIMERS)]
    for process in processes:  # all at once, each already connected
        process.stdin.write(b"go\n")  # type: ignore[union-attr]
    outputs = [await asyncio.wait_for(p.communicate(), 120) for p in processes]
    claimed = [json.loads(out.splitlines()[-1]) for out, _ in outputs]

    counts = Counter(task_id for ids in claimed for task_id in ids)
    assert set(counts) == due  # all of the due tasks, and none that is not due
    assert set(counts.values()) == {1}  # each by one claimer only
    assert sum(1 for ids in claimed if ids) >= 2  # they did race (which ones: the OS's call)
