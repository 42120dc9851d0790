"""Calls, their events and turns: seq order, concurrent appends, live reads."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from database.models import Call, User
from database.repositories import calls, turns
from database.states import CallStatus, Speaker
from tests.database.conftest import make_user

Sessions = async_sessionmaker[AsyncSession]
T0 = datetime(2030, 5, 1, 9, 30, tzinfo=UTC)
# PostgreSQL text cannot hold NUL; transcripts never contain it.
TEXT = st.characters(codec="utf-8", exclude_characters="\x00")


async def _call(sessions: Sessions, user: User | None = None) -> Call:
    user = user or await make_user(sessions)
    async with sessions() as s, s.begin():
        return await calls.create_dialing(
            s, user_id=user.id, call_id=str(uuid.uuid4()), phone_number="+15550001111",
            node_id="node-a", started_at=T0,
        )  # fmt: skip


async def test_call_lifecycle_fields_are_stored(sessions: Sessions) -> None:
    call = await _call(sessions)
    async with sessions() as s, s.begin():
        await calls.update(
            s, user_id=call.user_id, call_id=call.id, status=CallStatus.ANSWERED,
            answered_at=T0 + timedelta(seconds=4), channel="PJSIP/trunk-00000001",
        )  # fmt: skip
    async with sessions() as s, s.begin():
        await calls.update(
            s, user_id=call.user_id, call_id=call.id, status=CallStatus.COMPLETED,
            ended_at=T0 + timedelta(seconds=64), duration_seconds=60.0, hangup_cause=16,
            hangup_cause_text="Normal Clearing", outcome="success",
            facts={"appointment": "Tuesday 10:00"}, latency_ms=[420, 380.5],
        )  # fmt: skip
    async with sessions() as s, s.begin():
        stored = await calls.get(s, user_id=call.user_id, call_id=call.id)
        listed = await calls.list_for_user(s, user_id=call.user_id)
    assert stored is not None
    assert stored.status == CallStatus.COMPLETED
    assert stored.answered_at == T0 + timedelta(seconds=4)
    assert (stored.hangup_cause, stored.hangup_cause_text) == (16, "Normal Clearing")
    assert stored.facts == {"appointment": "Tuesday 10:00"}
    assert stored.latency_ms == [420, 380.5]
    assert stored.channel == "PJSIP/trunk-00000001"
    assert [c.id for c in listed] == [call.id]


async def test_events_come_back_in_order(sessions: Sessions) -> None:
    call = await _call(sessions)
    async with sessions() as s, s.begin():
        for i, kind in enumerate(["ringing", "answered", "hangup"]):
            await calls.append_event(
                s, user_id=call.user_id, call_id=call.id, kind=kind, data={"i": i},
                at=T0 + timedelta(seconds=i),
            )  # fmt: skip
    async with sessions() as s, s.begin():
        events = await calls.list_events(s, user_id=call.user_id, call_id=call.id)
    assert [(e.kind, e.data) for e in events] == [
        ("ringing", {"i": 0}), ("answered", {"i": 1}), ("hangup", {"i": 2})
    ]  # fmt: skip


async def test_turns_are_numbered_and_readable_while_the_call_runs(sessions: Sessions) -> None:
    call = await _call(sessions)
    lines = [(Speaker.AGENT, "Hello"), (Speaker.CALLEE, "Hi"), (Speaker.AGENT, "Tuesday?")]
    seen: list[int] = []
    for speaker, text in lines:
        async with sessions() as s, s.begin():
            await turns.append(s, user_id=call.user_id, call_id=call.id, speaker=speaker, text=text)
        async with sessions() as s, s.begin():  # a live view polling for what is new
            new = await turns.list_for_call(
                s, user_id=call.user_id, call_id=call.id, after_seq=max(seen, default=0)
            )
        assert [t.text for t in new] == [text]
        seen += [t.seq for t in new]
    assert seen == [1, 2, 3]


async def test_concurrent_appends_get_distinct_consecutive_seqs(sessions: Sessions) -> None:
    call = await _call(sessions)

    async def say(i: int) -> None:
        async with sessions() as s, s.begin():
            speaker = Speaker.AGENT if i % 2 else Speaker.CALLEE
            await turns.append(
                s, user_id=call.user_id, call_id=call.id, speaker=speaker, text=str(i)
            )

    await asyncio.wait_for(asyncio.gather(*(say(i) for i in range(12))), timeout=60)
    async with sessions() as s, s.begin():
        listed = await turns.list_for_call(s, user_id=call.user_id, call_id=call.id)
    assert [t.seq for t in listed] == list(range(1, 13))
    assert sorted(int(t.text) for t in listed) == list(range(12))


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=st.lists(
        st.tuples(st.sampled_from(list(Speaker)), st.text(TEXT, min_size=1, max_size=40)),
        max_size=8,
    )
)
async def test_turns_round_trip_in_order(
    sessions: Sessions, lines: list[tuple[Speaker, str]]
) -> None:
    call = await _call(sessions)
    async with sessions() as s, s.begin():
        for speaker, text in lines:
            await turns.append(s, user_id=call.user_id, call_id=call.id, speaker=speaker, text=text)
    async with sessions() as s, s.begin():
        listed = await turns.list_for_call(s, user_id=call.user_id, call_id=call.id)
    assert [(t.speaker, t.text) for t in listed] == lines
    assert [t.seq for t in listed] == list(range(1, len(lines) + 1))
