"""Turns are stored in order and published live; latencies reach the histogram in seconds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from audio_processing.call_turns import HoldChange, Turn
from audio_processing.never_share import values
from call_processor.turn_writer import TurnWriter
from common.command_bus import InProcessCommandBus
from common.metrics import PlatformMetrics
from database.engine import create_engine_for, session_factory
from database.migrate import upgrade
from database.models import User
from database.repositories import calls, turns, users

CALL_ID = "0b1e4c7e-2f7a-4d55-9a55-5f0f7f3e9a01"
Sessions = async_sessionmaker[AsyncSession]


async def _dialing_call(
    tmp_path: Path, email: str, number: str
) -> tuple[AsyncEngine, Sessions, User]:
    """A fresh database with one user whose call CALL_ID is dialing, as the writer finds it."""
    await upgrade(None, tmp_path)
    engine = create_engine_for(None, tmp_path)
    sessions = session_factory(engine)
    async with sessions() as s, s.begin():
        user = await users.create(s, email=email, password_hash="x")
        await calls.create_dialing(s, user_id=user.id, call_id=CALL_ID, phone_number=number)
    return engine, sessions, user


@asynccontextmanager
async def _live_events(
    bus: InProcessCommandBus, user_id: int, **dump: Any
) -> AsyncIterator[list[dict[str, Any]]]:
    """What the user's pages are sent while the block runs, as dicts (model_dump(**dump))."""
    live: list[dict[str, Any]] = []

    async def watch() -> None:
        async with bus.subscribe_events(user_id) as events:
            async for event in events:
                live.append(event.model_dump(**dump))

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(0.01)
    try:
        yield live
    finally:
        await asyncio.sleep(0.01)
        watcher.cancel()


async def test_turns_are_stored_in_order_published_and_latency_observed(tmp_path: Path) -> None:
    engine, sessions, user = await _dialing_call(tmp_path, "t@example.com", "+15550005")
    bus = InProcessCommandBus()
    metrics = PlatformMetrics()
    writer = TurnWriter(
        sessions,
        bus,
        user_id=user.id,
        call_id=CALL_ID,
        observe_latency=metrics.turn_latency.observe,
    )
    async with _live_events(bus, user.id) as live:
        now = datetime.now(UTC)
        writer.on_turn(Turn("callee", "Dental office, how can I help?", "i1", now, now))
        writer.on_turn(Turn("agent", "Hi, I'd like to book a cleaning.", "i2", now, now))
        writer.on_latency(640.0)
        await writer.aclose()
    async with sessions() as s:
        rows = await turns.list_for_call(s, user_id=user.id, call_id=CALL_ID)
    assert [(r.seq, str(r.speaker)) for r in rows] == [(1, "callee"), (2, "agent")]
    assert [e["seq"] for e in live if e["type"] == "turn"] == [1, 2]
    registry = metrics.registry
    assert registry.get_sample_value("opendeep_turn_latency_seconds_count") == 1
    assert registry.get_sample_value("opendeep_turn_latency_seconds_sum") == 0.64
    await bus.aclose()
    await engine.dispose()


async def test_an_agent_turn_that_says_a_never_share_value_is_recorded(tmp_path: Path) -> None:
    """Issue 13: the never-share values were written verbatim into the instructions; now
    they are not, and the agent saying one anyway is recorded on the call (not its value)."""
    engine, sessions, user = await _dialing_call(tmp_path, "n@example.com", "+15550006")
    watched = values(("SSN 123-45-6789",))
    writer = TurnWriter(sessions, InProcessCommandBus(), user_id=user.id, call_id=CALL_ID,
                        never_share=watched)  # fmt: skip
    now = datetime.now(UTC)
    writer.on_turn(Turn("callee", "What is her SSN? 123-45-6789, right?", "i1", now, now))
    writer.on_turn(Turn("agent", "I can't share that.", "i2", now, now))
    writer.on_turn(Turn("agent", "It is 123 45 6789.", "i3", now, now))
    await writer.aclose()
    async with sessions() as s:
        events = await calls.list_events(s, user_id=user.id, call_id=CALL_ID)
    await engine.dispose()
    slips = [e for e in events if e.kind == "never_share_spoken"]
    assert [e.data for e in slips] == [{"item": 0}]
    assert "6789" not in str(slips[0].data)


async def test_a_cut_turn_keeps_what_was_heard_and_holds_become_events_and_metrics(
    tmp_path: Path,
) -> None:
    engine, sessions, user = await _dialing_call(tmp_path, "h@example.com", "+15550006")
    bus = InProcessCommandBus()
    metrics = PlatformMetrics()
    writer = TurnWriter(
        sessions, bus, user_id=user.id, call_id=CALL_ID, observe_hold=metrics.observe_hold
    )
    async with _live_events(bus, user.id, mode="json") as live:
        since = datetime.now(UTC)
        writer.on_turn(Turn("agent", "Hello, I …", "i1", since, since, cut_at_ms=80))
        writer.on_hold(HoldChange(True, since))
        writer.on_hold(HoldChange(False, since, held_ms=192_000, avoided_ms=190_500))
        await writer.aclose()
    async with sessions() as s:
        [row] = await turns.list_for_call(s, user_id=user.id, call_id=CALL_ID)
        events = await calls.list_events(s, user_id=user.id, call_id=CALL_ID)
    assert (row.text, row.cut_at_ms) == ("Hello, I …", 80)
    assert [(e.kind, e.data) for e in events] == [("on_hold", {}), ("off_hold", {"held_s": 192.0})]
    holds = [e for e in live if e["type"] == "call_hold"]
    assert [(e["on_hold"], e["call_id"]) for e in holds] == [(True, CALL_ID), (False, CALL_ID)]
    assert all(datetime.fromisoformat(e["since"]) == since for e in holds)
    registry = metrics.registry
    assert registry.get_sample_value("opendeep_hold_seconds_total") == 192.0
    assert registry.get_sample_value("opendeep_model_audio_avoided_seconds_total") == 190.5
    await bus.aclose()
    await engine.dispose()
