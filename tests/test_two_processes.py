"""Issue 3: two processes sharing Redis with a global limit of 3 never have more than 3 of
our calls up at once, and every call completes.

Two real `main.py run` processes share one PostgreSQL database (the documented scale-out
setup) and one Redis, each with MAX_CONCURRENT_CALLS=3. Ten tasks are due at once. The
agent (the fake Realtime server, in this test's event loop) greets briefly and calls
end_call, so each call ends by itself after a second or two; the far ends (SILENT) would
only hang up after 8 s. The limit is checked where it matters, in Asterisk: the test asks
AMI for every channel every ~100 ms and counts those whose Uniqueid is one of our call
ids (we originate with ChannelId = call id).
"""

from __future__ import annotations

import asyncio
import itertools
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis.asyncio as aioredis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common import channels
from common.owned_tasks import TaskOwner
from database.engine import create_engine_for, session_factory
from database.models import Call, Task
from database.repositories import campaigns, tasks, users
from database.states import CallStatus, TaskStatus
from tests.realtime.conftest import ulaw_tone
from tests.support import sandbox as sb
from tests.support.fake_realtime import CallFunction, FakeRealtimeServer, Response, Say, Script
from tests.support.platform_process import (
    fresh_postgres_database,
    migrate,
    platform_env,
    poll,
    running_main,
)
from tests.support.raw_ami import RawAmi, event_is
from tests.support.sandbox import Sandbox

pytestmark = pytest.mark.sandbox

LIMIT = 3
TASKS = 10
NODES = ("limit-node-a", "limit-node-b")
SLOTS_DB = "/14"  # a Redis database of its own: the call-slot key name is fixed ("global")
Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def fake() -> AsyncIterator[FakeRealtimeServer]:
    """Every call: a short greeting, then end_call(success).

    Triggered by the agent's own response.create (its greeting) only, so one call's
    script entry is never taken by another call's turn detection."""
    end = CallFunction("end_call", {"outcome": "success", "summary": "Greeted."})
    script = Script(
        [
            Response([Say(ulaw_tone(300), "Hello, goodbye."), end], trigger="response.create")
            for _ in range(TASKS + 5)  # a spare few: running out would leave a call open
        ]
    )
    async with FakeRealtimeServer(script) as server:
        yield server


@pytest.fixture
async def database_url(postgres_url: str) -> AsyncIterator[str]:
    async with fresh_postgres_database(postgres_url) as url:
        yield url


@pytest.fixture
async def slots_redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """The Redis both processes use, with no call slots left from an earlier run."""
    client = aioredis.Redis.from_url(urlsplit(redis_url)._replace(path=SLOTS_DB).geturl())
    await client.delete(channels.call_slots())
    try:
        yield client
    finally:
        await client.delete(channels.call_slots())
        await client.aclose()


class ChannelSampler:
    """Asks AMI for every channel about every 100 ms; keeps each answer's Uniqueids."""

    def __init__(self, ami: RawAmi) -> None:
        self.ami = ami
        self.samples: list[set[str]] = []
        self._ids = itertools.count(1)

    async def run(self) -> None:
        while True:
            self.samples.append(await self.sample())
            await asyncio.sleep(0.1)

    async def sample(self) -> set[str]:
        action_id = f"status-{next(self._ids)}"
        await self.ami.action("Status", action_id=action_id)
        await self.ami.wait_event(event_is("StatusComplete", ActionID=action_id), timeout=5)
        listed = self.ami.events_where(event_is("Status", ActionID=action_id))
        self.ami.events.clear()  # this list is complete; keep memory flat
        return {event.get("Uniqueid", "") for event in listed}

    def peak(self, ours: set[str]) -> int:
        return max((len(sample & ours) for sample in self.samples), default=0)


async def add_campaign(sessions: Sessions, numbers: list[str]) -> int:
    async with sessions() as s, s.begin():
        user = await users.create(s, email="two-processes@example.org", password_hash="x")
        campaign = await campaigns.create(s, user_id=user.id, name="two processes")
        new = [tasks.NewTask(phone_number=n, objective="say hello") for n in numbers]
        await tasks.create_many(s, user_id=user.id, campaign_id=campaign.id, tasks=new)
    return user.id


async def all_tasks(sessions: Sessions) -> list[Task]:
    async with sessions() as s:
        return list(await s.scalars(select(Task).order_by(Task.id)))


async def all_calls(sessions: Sessions) -> list[Call]:
    async with sessions() as s:
        return list(await s.scalars(select(Call)))


async def sandbox_ami(sandbox: Sandbox) -> RawAmi:
    ami = await RawAmi.connect(sandbox.ami_host, sandbox.ami_port)
    # Events off: Status answers still arrive; the rest of Asterisk's chatter does not.
    fields = {"Username": sandbox.ami_username, "Secret": sandbox.ami_secret, "Events": "off"}
    await ami.action("Login", fields)
    return ami


async def test_two_processes_share_the_limit_of_3_and_complete_every_call(
    asterisk_sandbox: Sandbox,
    fake: FakeRealtimeServer,
    database_url: str,
    slots_redis: aioredis.Redis,
    redis_url: str,
    tmp_path: Path,
) -> None:
    env = platform_env(
        asterisk_sandbox,
        fake,
        DATABASE_URL=database_url,
        REDIS_URL=urlsplit(redis_url)._replace(path=SLOTS_DB).geturl(),
        MAX_CONCURRENT_CALLS=str(LIMIT),
    )
    await migrate({**env, "DATA_DIR": str(tmp_path / "migrate")}, tmp_path)
    engine = create_engine_for(database_url, tmp_path)
    sessions = session_factory(engine)
    tokens = [asterisk_sandbox.new_token() for _ in range(TASKS)]
    ami = await sandbox_ami(asterisk_sandbox)
    sampler, owner = ChannelSampler(ami), TaskOwner("two-processes-test")
    try:
        await add_campaign(sessions, ["+" + asterisk_sandbox.number(sb.SILENT, t) for t in tokens])
        per_node = [{**env, "NODE_ID": n, "DATA_DIR": str(tmp_path / n)} for n in NODES]
        async with (
            running_main(per_node[0], tmp_path) as first,
            running_main(per_node[1], tmp_path) as second,
        ):
            sampling = owner.spawn(sampler.run(), "ami-sampler")
            done = await poll(
                lambda: all_tasks(sessions),
                lambda rows: all(TaskStatus(t.status).is_final for t in rows),
                timeout=45,
                what="not every task was decided",
            )
            assert not sampling.done(), sampling  # it sampled the whole run
            await owner.aclose()
            for process in (first, second):
                process.proc.send_signal(signal.SIGTERM)
            codes = [await p.wait_exit(10) for p in (first, second)]
        outputs = [first.text, second.text]
        rows = await all_calls(sessions)
    finally:
        await owner.aclose()
        await ami.aclose()
        await engine.dispose()

    assert codes == [0, 0], outputs
    for text in outputs:
        assert "Traceback" not in text, text
    assert [t.status for t in done] == [TaskStatus.SUCCEEDED] * TASKS
    assert len(rows) == TASKS  # one call per task: none failed and was retried
    for call in rows:
        assert (call.status, call.outcome) == (CallStatus.COMPLETED, "success")
        assert call.ended_at is not None
    assert {call.node_id for call in rows} == set(NODES)  # both processes placed calls
    ours = {call.id for call in rows}
    print(f"\n{len(sampler.samples)} AMI samples; peak {sampler.peak(ours)} of our calls up")
    assert sampler.peak(ours) == LIMIT
    for token in tokens:  # our hangup (end_call), long before the far end's own after 8 s
        far = await asterisk_sandbox.wait_far_end(token, lambda r: r.has("hangup"), timeout=5)
        assert far.duration is not None
        assert far.duration < 6
    assert await slots_redis.zcard(channels.call_slots()) == 0  # every slot was given back
