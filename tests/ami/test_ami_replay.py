"""Recorded Asterisk 22 conversations (tests/fixtures/ami/) replayed into our code.

Two ways: the server side of each transcript straight into the pure parser and outcome
tracker; and the whole conversation through FakeAmi into the real AmiClient (panoramisk
framing, reply matching, event routing), driven by the same actions that were recorded.
Re-record with `python -m tests.ami.record_transcripts` (sandbox running).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import SecretStr

from call_processor.ami import events as ami_events
from call_processor.ami import outcomes as ami_outcomes
from call_processor.ami.call_events import CallEvents
from call_processor.ami.client import AmiClient
from call_processor.ami.errors import AmiActionFailed
from call_processor.ami.outcomes import CallOutcome as O
from tests.support.fake_ami import FakeAmi, load_transcript, transcript_server_messages

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ami"
OUTCOMES = {
    "originate_busy": O.BUSY,
    "originate_no_answer": O.NO_ANSWER,
    "originate_congestion": O.CONGESTION,
    "originate_answered_dtmf": O.ANSWERED,
}


def recorded_originate(path: Path) -> dict[str, str]:
    for side, message in load_transcript(path):
        if side == "client" and message.get("Action") == "Originate":
            return {k: v if isinstance(v, str) else v[0] for k, v in message.items()}
    raise AssertionError(f"no Originate in {path.name}")


def test_every_fixture_is_covered() -> None:
    names = {p.stem for p in FIXTURES.glob("*.txt")}
    assert names == {*OUTCOMES, "originate_bad_extension"}


@pytest.mark.parametrize("name", sorted(OUTCOMES))
def test_recorded_events_give_the_outcome(name: str) -> None:
    path = FIXTURES / f"{name}.txt"
    call_id = recorded_originate(path)["ChannelId"]
    tracker = ami_outcomes.OutcomeTracker()
    ours: list[ami_events.AmiEvent] = []
    for message in transcript_server_messages(path):
        event = ami_events.parse_event(message)
        if event is not None and call_id in ami_events.routing_keys(event):
            ours.append(event)
            tracker.feed(event)
    assert tracker.outcome is OUTCOMES[name]
    assert any(isinstance(e, ami_events.OriginateResponse) for e in ours)
    assert any(isinstance(e, ami_events.Hangup) for e in ours)


def test_recorded_busy_is_reason_0_and_decided_by_the_later_hangup() -> None:
    """Why OutcomeTracker waits: Reason alone would say "failed" for a busy callee."""
    path = FIXTURES / "originate_busy.txt"
    call_id = recorded_originate(path)["ChannelId"]
    kinds = []
    for message in transcript_server_messages(path):
        event = ami_events.parse_event(message)
        if (
            isinstance(event, ami_events.OriginateResponse | ami_events.Hangup)
            and event.uniqueid == call_id
        ):
            kinds.append((type(event).__name__, getattr(event, "reason", None)))
    assert kinds == [("OriginateResponse", 0), ("Hangup", None)]


def test_recorded_dtmf_arrives_on_the_far_leg_only() -> None:
    path = FIXTURES / "originate_answered_dtmf.txt"
    call_id = recorded_originate(path)["ChannelId"]
    dtmf = [
        e
        for e in map(ami_events.parse_event, transcript_server_messages(path))
        if isinstance(e, ami_events.DtmfEnd)
    ]
    assert [(e.digit, e.direction) for e in dtmf] == [("7", "Received")]
    assert dtmf[0].uniqueid != call_id
    assert dtmf[0].duration_ms > 0


async def collect_outcome(events: CallEvents, timeout: float = 5) -> ami_outcomes.CallOutcome:
    tracker = ami_outcomes.OutcomeTracker()
    async with asyncio.timeout(timeout):
        while tracker.outcome is None:
            tracker.feed(await events.get(timeout))
    return tracker.outcome


async def replay_client(fake: FakeAmi, path: Path) -> AmiClient:
    fake.replay(path)
    client = AmiClient("127.0.0.1", fake.port, "opendeep", SecretStr("s3cret-test"))
    await client.start()
    await client.wait_connected(5)
    return client


def originate_kwargs(path: Path) -> dict:
    recorded = recorded_originate(path)
    variables = dict(v.split("=", 1) for v in recorded_variables(path))
    return {
        "call_id": recorded["ChannelId"],
        "channel": recorded["Channel"],
        "context": recorded["Context"],
        "exten": recorded["Exten"],
        "priority": recorded["Priority"],
        "timeout_ms": int(recorded["Timeout"]),
        "variables": variables,
    }


@pytest.mark.parametrize("name", ["originate_busy", "originate_no_answer", "originate_congestion"])
async def test_replay_through_the_client(name: str) -> None:
    path = FIXTURES / f"{name}.txt"
    recorded = recorded_originate(path)
    async with FakeAmi() as fake:
        client = await replay_client(fake, path)
        try:
            events = client.subscribe(recorded["ChannelId"])
            await client.originate(**originate_kwargs(path))
            assert await collect_outcome(events) is OUTCOMES[name]
        finally:
            await client.stop()
    assert fake.transcript == []  # every recorded step was played


async def test_replay_answered_call_with_dtmf_getvar_and_hangup() -> None:
    path = FIXTURES / "originate_answered_dtmf.txt"
    recorded = recorded_originate(path)
    call_id = recorded["ChannelId"]
    async with FakeAmi() as fake:
        client = await replay_client(fake, path)
        try:
            events = client.subscribe(call_id)
            await client.originate(**originate_kwargs(path))
            assert await collect_outcome(events) is O.ANSWERED
            await client.play_dtmf(call_id, "7", gap_ms=0, duration_ms=10)
            assert await client.getvar(call_id, "CALL_ID") == call_id
            await client.hangup(call_id)
            async with asyncio.timeout(5):
                while not isinstance(event := await events.get(5), ami_events.Hangup):
                    pass
            assert event.cause == 16
        finally:
            await client.stop()
    assert fake.transcript == []
    sent = fake.named("Originate")[0].headers
    assert sent["Variable"] == recorded_variables(path)


def recorded_variables(path: Path) -> list[str]:
    for side, message in load_transcript(path):
        if side == "client" and message.get("Action") == "Originate":
            value = message.get("Variable", [])
            return [value] if isinstance(value, str) else list(value)
    return []


async def test_replay_refused_originate() -> None:
    path = FIXTURES / "originate_bad_extension.txt"
    async with FakeAmi() as fake:
        client = await replay_client(fake, path)
        try:
            with pytest.raises(AmiActionFailed, match="Extension does not exist"):
                await client.originate(**originate_kwargs(path))
        finally:
            await client.stop()
