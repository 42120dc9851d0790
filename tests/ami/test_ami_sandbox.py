"""AmiClient against the real Asterisk 22 sandbox (SIP loopback far end, see asterisk/sandbox)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from call_processor.ami import events as ami_events
from call_processor.ami import outcomes as ami_outcomes
from call_processor.ami.call_events import CallEvents
from call_processor.ami.client import AmiClient
from call_processor.ami.errors import AmiError
from call_processor.ami.outcomes import CallOutcome as O
from tests.ami.silence_peer import SilencePeer
from tests.support import sandbox as sb
from tests.support.fake_ami import RecordingProxy

pytestmark = pytest.mark.sandbox


def client_for(host: str, port: int, box: sb.Sandbox) -> AmiClient:
    return AmiClient(
        host,
        port,
        box.ami_username,
        SecretStr(box.ami_secret),
        ping_interval=1.0,
        ping_timeout=2.0,
        reconnect_max_delay=0.5,
    )


@pytest.fixture
async def ami(asterisk_sandbox: sb.Sandbox) -> AsyncIterator[AmiClient]:
    box = asterisk_sandbox
    async with client_for(box.ami_host, box.ami_port, box) as client:
        await client.wait_connected(10)
        yield client


async def originate(
    client: AmiClient,
    box: sb.Sandbox,
    scenario: str,
    token: str,
    ring_ms: int = 10_000,
    audiosocket: str = "127.0.0.1:9",
) -> tuple[str, CallEvents]:
    call_id = str(uuid.uuid4())
    events = client.subscribe(call_id)
    await client.originate(
        call_id,
        box.channel(scenario, token),
        box.agent_context,
        box.agent_exten,
        1,
        ring_ms,
        variables={"CALL_ID": call_id, "AUDIOSOCKET_ADDR": audiosocket},
    )
    return call_id, events


async def outcome_of(events: CallEvents, timeout: float = 20, grace: float = 2) -> O:
    """Events until the outcome is known; after a failed OriginateResponse wait `grace`
    seconds at most for the Hangup that carries the cause."""
    tracker = ami_outcomes.OutcomeTracker()
    async with asyncio.timeout(timeout):
        while tracker.outcome is None:
            wait = grace if tracker.waiting_for_hangup else timeout
            try:
                tracker.feed(await events.get(wait))
            except TimeoutError:
                return tracker.give_up()
    return tracker.outcome


async def our_channels(client: AmiClient, call_id: str) -> list[dict[str, str]]:
    return [c for c in await client.list_channels() if c.get("Uniqueid") == call_id]


async def test_login_ping_and_list_channels(ami: AmiClient) -> None:
    await ami.ping()
    assert isinstance(await ami.list_channels(), list)


@pytest.mark.parametrize(
    ("scenario", "ring_ms", "expected"),
    [
        (sb.BUSY, 10_000, O.BUSY),
        (sb.NO_ANSWER, 2_000, O.NO_ANSWER),
        (sb.CONGESTION, 10_000, O.CONGESTION),
    ],
)
async def test_unanswered_outcomes(
    ami: AmiClient, asterisk_sandbox: sb.Sandbox, scenario: str, ring_ms: int, expected: O
) -> None:
    token = asterisk_sandbox.new_token()
    call_id, events = await originate(ami, asterisk_sandbox, scenario, token, ring_ms)
    assert await outcome_of(events) is expected
    assert await our_channels(ami, call_id) == []


async def test_play_dtmf_string_reaches_the_ivr(
    ami: AmiClient, asterisk_sandbox: sb.Sandbox
) -> None:
    box = asterisk_sandbox
    token = box.new_token()
    async with SilencePeer() as peer:
        call_id, events = await originate(ami, box, sb.IVR, token, audiosocket=peer.address)
        assert await outcome_of(events) is O.ANSWERED
        assert await ami.getvar(call_id, "CALL_ID") == call_id
        await ami.play_dtmf(call_id, "w5", gap_ms=100)
        result = await box.wait_far_end(token, lambda r: bool(r.digits) or r.has("timeout"), 15)
        assert result.digits == ["5"]
        assert peer.call_ids == [call_id]
        await ami.hangup(call_id)
        async with asyncio.timeout(10):
            while not isinstance(await events.get(10), ami_events.Hangup):
                pass
    assert await our_channels(ami, call_id) == []


async def test_back_within_5s_after_asterisk_restarts_while_idle(
    ami: AmiClient, asterisk_sandbox: sb.Sandbox
) -> None:
    changes: list[tuple[bool, float]] = []
    ami.add_state_listener(lambda up: changes.append((up, time.monotonic())))
    before = ami.connections
    await asyncio.to_thread(asterisk_sandbox.restart)
    ready_at = time.monotonic()  # sandbox.sh start returns once Asterisk is fully booted
    async with asyncio.timeout(5):
        while ami.connections == before:
            await ami.wait_connected(5)
            await asyncio.sleep(0.01)
    await ami.wait_connected(5)
    (down, down_at), (up, up_at) = changes[:2]
    assert (down, up) == (False, True)
    print(
        f"\n[ami] outage {up_at - down_at:.2f}s; logged in {up_at - ready_at:+.2f}s "
        "relative to sandbox restart returning"
    )
    assert up_at - ready_at < 5
    await ami.ping()


async def test_restart_during_originate_never_duplicates_the_call(
    asterisk_sandbox: sb.Sandbox,
) -> None:
    """Originate, then Asterisk restarts: after the reconnect nothing is re-sent."""
    box = asterisk_sandbox
    proxy = await RecordingProxy(box.ami_host, box.ami_port).start()
    try:
        async with client_for("127.0.0.1", proxy.port, box) as client:
            await client.wait_connected(10)
            token = box.new_token()
            restart = asyncio.create_task(asyncio.to_thread(box.restart), name="restart")
            try:
                await originate(client, box, sb.NO_ANSWER, token, ring_ms=30_000)
                result = "queued"
            except AmiError as exc:  # refused or cut by the restart: fine if never re-sent
                result = type(exc).__name__
            await restart
            await client.wait_connected(10)
            await asyncio.sleep(2)  # time in which a replayed Originate would ring
            rings = box.far_end(token).words().count("ringing")
            print(f"\n[ami] originate during restart: {result}, far end rang {rings}x")
            assert proxy.count("Originate") == 1
            assert proxy.count("Login") >= 2
            assert rings <= 1
            assert not [c for c in await client.list_channels() if token in c.get("Exten", "")]
    finally:
        await proxy.stop()
