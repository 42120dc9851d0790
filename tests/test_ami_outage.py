"""AMI down for a minute with calls due: no attempt is spent, and every call leaves when
AMI is back (issue 13: every Originate used to fail, use an attempt, and three of them
failed a task without one call placed).

A real `main.py run` process; its AMI is the local fake AMI server, absent for 60 s and
then started on the same port. "Placed" is an Originate arriving at AMI.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from database.engine import create_engine_for, session_factory
from database.migrate import upgrade
from database.repositories import tasks, users
from database.states import TaskStatus
from tests.support.fake_ami import FakeAmi
from tests.support.platform_process import running_main
from tests.support.platform_settings import NOWHERE
from tests.support.processes import clean_env, free_port

DUE = 5
OUTAGE = 60.0


async def add_due_tasks(data_dir: Path) -> list[int]:
    await upgrade(None, data_dir)
    engine = create_engine_for(None, data_dir)
    try:
        async with session_factory(engine)() as s, s.begin():
            user = await users.create(s, email="outage@example.org", password_hash="x")
            made = await tasks.create_many(s, user_id=user.id, campaign_id=None, tasks=[
                tasks.NewTask(phone_number=f"+1415555{1000 + n}", objective="book",
                              max_attempts=3)
                for n in range(DUE)
            ])  # fmt: skip
        return [t.id for t in made]
    finally:
        await engine.dispose()


async def task_states(data_dir: Path) -> list[tuple[TaskStatus, int]]:
    engine = create_engine_for(None, data_dir)
    try:
        async with session_factory(engine)() as s:
            rows = await tasks.list_for_user(s, user_id=1)
        return sorted((TaskStatus(t.status), t.attempt_count) for t in rows)
    finally:
        await engine.dispose()


async def test_ami_down_for_a_minute_uses_no_attempt_and_every_call_leaves_on_return(
    tmp_path: Path,
) -> None:
    ami_port = free_port()
    data_dir = tmp_path / "data"
    env = clean_env(
        DATA_DIR=str(data_dir), AMI_PORT=str(ami_port), AMI_SECRET="s3cret-test",
        OPENAI_API_KEY="sk-test-outage", OPENAI_BASE_URL=NOWHERE, MAX_CONCURRENT_CALLS="5",
        CALLING_HOURS_START="00:00", CALLING_HOURS_END="23:59",
        CALLING_DAYS="mon,tue,wed,thu,fri,sat,sun",
    )  # fmt: skip
    await add_due_tasks(data_dir)
    async with running_main(env, tmp_path) as platform:
        await asyncio.sleep(OUTAGE)
        assert platform.proc.returncode is None, platform.text
        assert await task_states(data_dir) == [(TaskStatus.PENDING, 0)] * DUE
        assert "not claiming: calls cannot be placed now" in platform.text

        ami = await FakeAmi().start(port=ami_port)
        back = time.monotonic()
        try:
            await ami.wait_for(lambda: len(ami.named("Originate")) == DUE, timeout=10)
            placed_within = time.monotonic() - back
        finally:
            await ami.stop()
    assert placed_within < 10
    assert {s for s, _ in await task_states(data_dir)} <= {
        TaskStatus.IN_PROGRESS, TaskStatus.SCHEDULED, TaskStatus.RETRY_SCHEDULED,
    }  # fmt: skip
