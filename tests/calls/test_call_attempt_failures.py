"""A call whose dependencies are dead is refused cleanly: row closed, talker released.

No sandbox here on purpose: these are the paths where Asterisk or Redis is not there.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from audio_processing.audio_socket_server import AudioSocketServer
from call_processor.ami.client import AmiClient
from call_processor.call_attempt import FINAL_WRITE_WITHIN
from call_processor.call_initiator import CallInitiator, CallRequest
from call_processor.call_records import CallRecorder
from call_processor.call_slots import InProcessCallSlots, RedisCallSlots
from call_processor.finished_call import EndedBy, FinishedCall
from common.command_bus import CommandBus, InProcessCommandBus, RedisCommandBus
from common.metrics import PlatformMetrics
from common.phone_numbers import dial_digits
from config.settings import DialSettings
from database.engine import create_engine_for, session_factory
from database.migrate import upgrade
from database.repositories import calls, users
from database.states import CallStatus
from tests.calls.conftest import RecorderFactory, calls_active, place
from tests.support.fake_ami import FakeAmi, _get
from tests.support.processes import free_port


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await upgrade(None, tmp_path)
    engine = create_engine_for(None, tmp_path)
    yield session_factory(engine)
    await engine.dispose()


async def place_one(
    sessions: async_sessionmaker[AsyncSession], bus: CommandBus, ami_port: int
) -> tuple:
    async with sessions() as s, s.begin():
        user = await users.create(s, email="dead@example.com", password_hash="x")
    ami = AmiClient("127.0.0.1", ami_port, "opendeep", SecretStr("x"), action_timeout=0.5)
    server = AudioSocketServer("127.0.0.1", 0)
    await server.start()
    talkers = RecorderFactory()
    metrics = PlatformMetrics()
    initiator = CallInitiator(
        ami=ami,
        audio_server=server,
        bus=bus,
        slots=InProcessCallSlots(1),
        sessions=sessions,
        dial=DialSettings(channel_template="PJSIP/{number}@trunk"),
        node_id="t",
        audiosocket_address=f"127.0.0.1:{server.port}",
        talkers=talkers,
        metrics=metrics,
    )
    await initiator.start()
    try:
        request = CallRequest(user_id=user.id, phone_number="+15550001")
        result = await asyncio.wait_for(place(initiator, request), 10)
    finally:
        await initiator.stop()
        await server.stop()
        await bus.aclose()
    async with sessions() as s:
        row = await calls.get(s, user_id=user.id, call_id=result.call_id)
    return result, row, talkers.talkers[result.call_id], metrics, server


async def test_dead_ami_refuses_the_call_and_closes_the_row(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    result, row, talker, metrics, server = await place_one(
        sessions, InProcessCommandBus(), free_port()
    )
    assert result.status == CallStatus.FAILED
    assert (result.end_reason, result.ended_by) == ("originate_refused", EndedBy.PLATFORM)
    assert result == FinishedCall.from_row(row)
    assert row.status == CallStatus.FAILED
    assert row.ended_at is not None
    assert talker.closed == 1
    assert calls_active(metrics) == 0
    assert server.forget(result.call_id) is False  # no longer expected: nobody can attach


async def test_dead_redis_refuses_the_call_and_closes_the_row(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    bus = RedisCommandBus(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)
    result, row, talker, _, _ = await place_one(sessions, bus, free_port())
    assert result.status == CallStatus.FAILED
    assert result.end_reason == "handler_error"
    assert row.status == CallStatus.FAILED
    assert row.ended_at is not None
    assert talker.closed == 1


async def test_invalid_number_is_refused_before_anything_happens(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    server = AudioSocketServer("127.0.0.1", 0)
    initiator = CallInitiator(
        ami=AmiClient("127.0.0.1", 1, "u", SecretStr("x")),
        audio_server=server,
        bus=InProcessCommandBus(),
        slots=InProcessCallSlots(1),
        sessions=sessions,
        dial=DialSettings(),
        audiosocket_address="127.0.0.1:1",
        node_id="t",
        talkers=RecorderFactory(),
    )
    await initiator.start()
    for bad in ("+1555&Local/evil", "15550001\r\nAction: Originate", "+", "12"):
        with pytest.raises(ValueError, match="phone number"):
            dial_digits(bad)
        finished = await asyncio.wait_for(place(initiator, CallRequest(1, bad)), 5)
        assert finished == FinishedCall.without_row(None, CallStatus.FAILED, "not_placed")
    await initiator.stop()
    async with sessions() as s:
        assert await calls.list_for_user(s, user_id=1) == []


async def test_lost_originate_reply_is_followed_not_redialed(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Asterisk may have queued the call although its reply never came: the attempt must
    follow the call to its end (here the callee is busy) and never place a second one."""
    async with sessions() as s, s.begin():
        user = await users.create(s, email="lost@example.com", password_hash="x")
    async with FakeAmi(secret="x") as fake:
        originated: list[str] = []

        def swallow(_conn: object, action: object) -> None:  # no reply, like a lost packet
            originated.append(_get(action.headers, "ChannelId"))  # type: ignore[attr-defined]

        fake.on("originate", swallow)
        ami = AmiClient("127.0.0.1", fake.port, "opendeep", SecretStr("x"), action_timeout=0.3)
        server = AudioSocketServer("127.0.0.1", 0)
        await ami.start()
        await server.start()
        await ami.wait_connected(5)
        initiator = CallInitiator(
            ami=ami,
            audio_server=server,
            bus=InProcessCommandBus(),
            slots=InProcessCallSlots(1),
            sessions=sessions,
            dial=DialSettings(),
            node_id="t",
            talkers=RecorderFactory(),
            audiosocket_address=f"127.0.0.1:{server.port}",
        )
        placing = place(initiator, CallRequest(user_id=user.id, phone_number="+15550002"))
        await fake.wait_for(lambda: len(originated) == 1)
        await asyncio.sleep(0.5)  # past the action timeout: the reply is lost
        assert not placing.done()
        fake.push(
            {
                "Event": "Hangup",
                "Uniqueid": originated[0],
                "Channel": "PJSIP/x-1",
                "Cause": "17",
                "Cause-txt": "User busy",
            }
        )
        result = await asyncio.wait_for(placing, 5)
        await initiator.stop()
        await server.stop()
        await ami.stop()
    assert result.status == CallStatus.BUSY
    assert len(fake.named("originate")) == 1
    async with sessions() as s:
        kinds = [
            e.kind for e in await calls.list_events(s, user_id=user.id, call_id=result.call_id)
        ]
    assert "originate_unconfirmed" in kinds


async def test_a_launched_call_that_cannot_start_still_reports_back(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """No slot (Redis gone) or a bad number: on_done must still run, or the scheduler's
    task stays in progress and its capacity is lost for good."""
    dead_slots = RedisCallSlots(f"redis://127.0.0.1:{free_port()}/0", 1, "t", timeout=0.3)
    await dead_slots.start()  # starts fine; acquire then finds Redis unreachable
    for slots, number in ((dead_slots, "+15550003"), (InProcessCallSlots(1), "+1&x")):
        metrics = PlatformMetrics()
        initiator = CallInitiator(
            ami=AmiClient("127.0.0.1", 1, "u", SecretStr("x")),
            audio_server=AudioSocketServer("127.0.0.1", 0),
            bus=InProcessCommandBus(),
            slots=slots,
            sessions=sessions,
            dial=DialSettings(),
            node_id="t",
            audiosocket_address="127.0.0.1:1",
            talkers=RecorderFactory(),
            metrics=metrics,
        )
        reported = asyncio.get_running_loop().create_future()

        async def on_done(request: CallRequest, result: object, done=reported) -> None:
            done.set_result(result)

        initiator.launch(CallRequest(user_id=1, phone_number=number), on_done)
        result = await asyncio.wait_for(reported, 5)
        assert (result.call_id, result.status, result.end_reason) == (
            None, CallStatus.FAILED, "not_placed",
        )  # fmt: skip  # no row was ever written
        assert calls_active(metrics) == 0
        await initiator.stop()
        await slots.aclose()


async def test_the_final_row_write_is_retried_through_a_database_blip(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as s, s.begin():
        user = await users.create(s, email="blip@example.com", password_hash="x")
    recorder = CallRecorder(sessions, user.id, "7c0f4bb6-5a36-4bb8-9c57-1f1a4d0b6d11")
    await recorder.create(phone_number="+15550004", task_id=None, attempt_number=1, node_id="t")
    failures = iter([True, True])

    def flaky() -> AsyncSession:  # the real database, refusing the first two units of work
        if next(failures, False):
            raise ConnectionError("database unavailable")
        return sessions()

    recorder.sessions = flaky  # type: ignore[assignment]
    closed = await recorder.close(within=1.5, status=CallStatus.COMPLETED, outcome="completed")
    assert recorder.failed_writes == 2
    async with sessions() as s:
        row = await calls.get(s, user_id=user.id, call_id=recorder.call_id)
    assert row.status == CallStatus.COMPLETED
    assert closed is not None
    assert (closed.id, closed.status) == (row.id, CallStatus.COMPLETED)  # the row as written


async def test_the_closing_write_outlasts_a_database_outage_of_seconds(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Issue 13: the final row write gave up after ~1.4 s of database loss and the row
    stayed `answered` until that node restarted; it now keeps trying for the lease."""
    async with sessions() as s, s.begin():
        user = await users.create(s, email="outage@example.com", password_hash="x")
    recorder = CallRecorder(sessions, user.id, "0a7f4bb6-5a36-4bb8-9c57-1f1a4d0b6d12")
    await recorder.create(phone_number="+15550005", task_id=None, attempt_number=1, node_id="t")
    down_until = time.monotonic() + 2.5

    def down_for_a_while() -> AsyncSession:
        if time.monotonic() < down_until:
            raise ConnectionError("database unavailable")
        return sessions()

    recorder.sessions = down_for_a_while  # type: ignore[assignment]
    closed = await recorder.close(within=FINAL_WRITE_WITHIN, status=CallStatus.COMPLETED)
    assert closed is not None
    assert closed.status == CallStatus.COMPLETED
    assert recorder.failed_writes >= 4
