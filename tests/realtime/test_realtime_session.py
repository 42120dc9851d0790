"""Opening, pre-warming and closing a session through the SDK against the strict server."""

from __future__ import annotations

import asyncio

import pytest
from openai import AsyncOpenAI

from audio_processing.realtime.session import RealtimeSession, RealtimeSessionError
from audio_processing.realtime.session_config import build_session_config
from launcher.openai_clients import realtime_client
from tests.realtime.conftest import session_for
from tests.support.fake_realtime import FakeRealtimeServer


async def test_prewarm_opens_and_configures_before_ready(
    client: AsyncOpenAI, fake: FakeRealtimeServer
) -> None:
    session = session_for(client)
    session.prewarm()
    await fake.wait_for("session.update")
    conn = await session.ready()
    assert conn is session.connection
    assert await session.ready() is conn  # idempotent: one socket
    assert len(fake.sessions) == 1
    await session.aclose()
    await asyncio.wait_for(fake.session.ws.wait_closed(), 2)


async def test_aclose_while_ringing_leaves_no_socket(
    client: AsyncOpenAI, fake: FakeRealtimeServer
) -> None:
    session = session_for(client)
    session.prewarm()
    await session.aclose()  # not answered: may be mid-handshake
    for s in fake.sessions:
        await asyncio.wait_for(s.ws.wait_closed(), 2)
    with pytest.raises(RuntimeError):
        _ = session.connection


async def test_a_config_the_server_rejects_fails_with_its_code(client: AsyncOpenAI) -> None:
    config = build_session_config(model="gpt-realtime", instructions="x")
    config["modalities"] = ["audio"]  # a beta key slipped in
    session = RealtimeSession(client, config, connect_timeout=3, configure_timeout=3)
    with pytest.raises(RealtimeSessionError) as failed:
        await session.open()
    assert failed.value.code == "unknown_parameter"
    await session.aclose()


async def test_unreachable_server_fails_cleanly() -> None:
    async with FakeRealtimeServer() as gone:
        url = gone.base_url
    client = realtime_client("k", url)
    try:
        session = session_for(client)
        with pytest.raises(RealtimeSessionError) as failed:
            await session.open()
        assert failed.value.code == "connect_failed"
    finally:
        await client.close()


def test_only_ga_configs_are_accepted(client: AsyncOpenAI) -> None:
    with pytest.raises(ValueError, match="realtime"):
        RealtimeSession(client, {"model": "gpt-realtime", "modalities": ["audio"]})
