"""A call whose dependencies are dead is refused cleanly: row closed, talker released.

No sandbox here on purpose: these are the paths where Asterisk or Redis is not there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from audio_processing.audio_socket_server import AudioSocketServer
from call_processor.ami_client import AmiClient
from call_processor.call_initiator import CallInitiator, CallRequest
from call_processor.call_slots import InProcessCallSlots
from common.command_bus import CommandBus, InProcessCommandBus, RedisCommandBus
from config.settings import DialSettings
from database.engine import create_engine_for, session_factory
from database.migrate import upgrade
from database.repositories import calls, users
from database.states import CallStatus
from tests.calls.conftest import RecorderFactory
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
    )
    await initiator.start()
    try:
        result = await initiator.place_call(CallRequest(user_id=user.id, phone_number="+15550001"))
    finally:
        await initiator.stop()
        await server.stop()
        await bus.aclose()
    async with sessions() as s:
        row = await calls.get(s, user_id=user.id, call_id=result.call_id)
    return result, row, talkers.talkers[result.call_id], initiator, server


async def test_dead_ami_refuses_the_call_and_closes_the_row(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    result, row, talker, initiator, server = await place_one(
        sessions, InProcessCommandBus(), free_port()
    )
    assert result.status == CallStatus.FAILED
    assert result.end_reason == "originate_refused"
    assert row.status == CallStatus.FAILED
    assert row.ended_at is not None
    assert talker.closed == 1
    assert initiator.active_calls == 0
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
    for bad in ("+1555&Local/evil", "15550001\r\nAction: Originate", "+", "12"):
        with pytest.raises(ValueError, match="phone number"):
            await initiator.place_call(CallRequest(user_id=1, phone_number=bad))
    async with sessions() as s:
        assert await calls.list_for_user(s, user_id=1) == []
