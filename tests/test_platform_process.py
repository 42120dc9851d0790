"""The platform as a process on the Asterisk sandbox: `kill -9` mid-call, restart, SIGTERM.

Issue 5: after a `kill -9` during an answered call, the far end is not left on an open line
(Asterisk sees the AudioSocket drop), and a restart with the same NODE_ID closes the call
row as interrupted and retries the task without using up an attempt. Issue 2: SIGTERM
during a live call exits 0 within 5 s, hangs the call up and writes its row; the task it
is reported as interrupted, so its task is rescheduled at once.

`main.py run` is a real subprocess; the fake Realtime server runs in this test's event
loop (hence asyncio subprocesses), and the test reads the same SQLite file the process
writes. The single task goes to the sandbox's PERSON scenario, which talks and then stays
on the line for 60 s, so every hangup seen here is the platform's doing.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from database.engine import create_engine_for, session_factory
from database.models import Call, Task
from database.repositories import calls, campaigns, tasks, users
from database.states import CallStatus, TaskActor, TaskStatus
from database.types import utcnow
from tests.realtime.conftest import ulaw_tone
from tests.support import sandbox as sb
from tests.support.fake_realtime import FakeRealtimeServer, Response, Say, Script
from tests.support.platform_process import migrate, platform_env, poll, running_main
from tests.support.sandbox import FarEndResult, Sandbox

pytestmark = pytest.mark.sandbox

NODE_ID = "kill9-node"
LIVE_CALL = (CallStatus.DIALING, CallStatus.RINGING, CallStatus.ANSWERED)
Sessions = async_sessionmaker[AsyncSession]


async def add_one_task(sessions: Sessions, number: str) -> Task:
    async with sessions() as s, s.begin():
        user = await users.create(s, email="kill9@example.org", password_hash="x")
        campaign = await campaigns.create(s, user_id=user.id, name="kill -9")
        new = tasks.NewTask(phone_number=number, objective="book a cleaning", max_attempts=3)
        return await tasks.create(s, user_id=user.id, task=new, campaign_id=campaign.id)


async def read_task(sessions: Sessions, task: Task) -> Task:
    async with sessions() as s:
        row = await tasks.get(s, user_id=task.user_id, task_id=task.id)
    assert row is not None
    return row


async def task_calls(sessions: Sessions, task: Task) -> list[Call]:
    async with sessions() as s:
        return await calls.list_for_task(s, user_id=task.user_id, task_id=task.id)


async def stuck_tasks(sessions: Sessions) -> list[int]:
    """Tasks in_progress without a live call row: what "stuck" means."""
    async with sessions() as s:
        running = list(await s.scalars(select(Task).where(Task.status == TaskStatus.IN_PROGRESS)))
        live = set(await s.scalars(select(Call.task_id).where(Call.status.in_(LIVE_CALL))))
    return [t.id for t in running if t.id not in live]


def hangups(result: FarEndResult) -> int:
    return len(result.values("hangup"))


@pytest.fixture
async def fake() -> AsyncIterator[FakeRealtimeServer]:
    """An agent that greets, then only listens (the far end stays up for 60 s)."""
    greeting = Say(ulaw_tone(400), "Hello, this is the assistant.")
    script = Script([Response([greeting]), Response([greeting])])  # one per call
    async with FakeRealtimeServer(script) as server:
        yield server


async def test_kill_9_mid_call_then_restart_recovers_and_sigterm_hangs_up(
    asterisk_sandbox: Sandbox, fake: FakeRealtimeServer, tmp_path: Path
) -> None:
    token = asterisk_sandbox.new_token()
    env = platform_env(asterisk_sandbox, fake, DATA_DIR=str(tmp_path / "data"), NODE_ID=NODE_ID)
    await migrate(env, tmp_path)
    engine = create_engine_for(None, tmp_path / "data")
    sessions = session_factory(engine)
    outputs: list[str] = []
    try:
        task = await add_one_task(sessions, "+" + asterisk_sandbox.number(sb.PERSON, token))

        # 1. The first process answers the call; kill -9 it mid-call.
        async with running_main(env, tmp_path) as first:
            (call,) = await poll(
                lambda: task_calls(sessions, task),
                lambda rows: [c.status for c in rows] == [CallStatus.ANSWERED],
                timeout=20,
                what="the first call was not answered",
            )
            first.proc.kill()
            killed_at = time.monotonic()
            assert await first.wait_exit(5) == -signal.SIGKILL
        outputs.append(first.text)
        far = await asterisk_sandbox.wait_far_end(token, lambda r: hangups(r) == 1, timeout=5)
        assert far.answered_at is not None
        hangup_after_kill = time.monotonic() - killed_at
        assert hangup_after_kill < 5  # nobody is left on an open line

        # 2. Restart with the same NODE_ID: the call is closed, the task is retried.
        async with running_main(env, tmp_path) as second:
            restarted_at = time.monotonic()
            retried = await poll(
                lambda: read_task(sessions, task),
                lambda t: t.status == TaskStatus.RETRY_SCHEDULED,
                timeout=10,
                what="the killed call's task was not scheduled for a retry",
            )
            recovered_in = time.monotonic() - restarted_at
            (closed,) = await task_calls(sessions, task)
            assert closed.id == call.id
            assert closed.status == CallStatus.INTERRUPTED
            assert closed.ended_at is not None
            # The callee was rung and spoken to: the attempt counts (a crash loop must not
            # ring the same person every minute for ever).
            assert retried.attempt_count == 1
            assert retried.claimed_by is None
            assert retried.last_decision_reason == "the call was interrupted on our side"
            assert retried.next_action_time is not None
            assert retried.next_action_time > utcnow()  # the engine's interrupted backoff
            assert await stuck_tasks(sessions) == []

            # The backoff (about a minute) passes: make the retry due now.
            async with sessions() as s, s.begin():
                await tasks.update_status(
                    s, user_id=task.user_id, task_id=task.id,
                    expected_version=retried.version, status=TaskStatus.RETRY_SCHEDULED,
                    actor=TaskActor.SYSTEM,
                    next_action_time=utcnow() - timedelta(seconds=1),
                )  # fmt: skip
            rows = await poll(
                lambda: task_calls(sessions, task),
                lambda rows: len(rows) == 2 and rows[-1].status == CallStatus.ANSWERED,
                timeout=15,
                what="the retry was not answered",
            )
            retry = rows[-1]
            assert retry.attempt_number == 2
            assert retry.node_id == NODE_ID
            running = await read_task(sessions, task)
            assert running.status == TaskStatus.IN_PROGRESS
            assert running.attempt_count == 2
            assert await stuck_tasks(sessions) == []

            # 3. SIGTERM while the retry is live: exit 0 within 5 s, call hung up and written.
            second.proc.send_signal(signal.SIGTERM)
            term_at = time.monotonic()
            assert await second.wait_exit(10) == 0
            stopped_in = time.monotonic() - term_at
        outputs.append(second.text)
        assert stopped_in < 5, second.text
        async with sessions() as s:
            written = await calls.get(s, user_id=task.user_id, call_id=retry.id)
        assert written is not None
        assert written.status == CallStatus.INTERRUPTED
        assert written.ended_at is not None
        await asterisk_sandbox.wait_far_end(token, lambda r: hangups(r) == 2, timeout=5)
        # A clean stop reports the cancelled call as interrupted: the task is rescheduled at
        # once (no wait for this node to come back); it was answered, so it counts.
        left = await read_task(sessions, task)
        assert left.status == TaskStatus.RETRY_SCHEDULED
        assert left.claimed_by is None
        assert left.attempt_count == 2

        # 4. The next start finds nothing stuck and stops cleanly again.
        async with running_main(env, tmp_path) as third:
            await poll(
                lambda: asyncio.sleep(0, third.text),
                lambda text: "platform started" in text,
                timeout=10,
                what="the third process did not start",
            )
            assert await stuck_tasks(sessions) == []
            third.proc.send_signal(signal.SIGTERM)
            assert await third.wait_exit(10) == 0
        outputs.append(third.text)
    finally:
        await engine.dispose()
    for text in outputs:
        assert "Traceback" not in text, text
    print(
        f"\nhangup after kill -9: {hangup_after_kill:.2f} s; recovered after restart in "
        f"{recovered_in:.2f} s; stopped on SIGTERM in {stopped_in:.2f} s"
    )
