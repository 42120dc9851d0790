"""AmiClient against FakeAmi: a real TCP server on port 0 speaking the AMI wire protocol."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

import pytest
from pydantic import SecretStr

from call_processor.ami import actions as ami_actions
from call_processor.ami import events as ami_events
from call_processor.ami.client import AmiClient
from call_processor.ami.errors import (
    AmiActionFailed,
    AmiError,
    AmiNotConnected,
    AmiReplyLost,
    AmiTimeout,
)
from config.settings import AmiSettings
from tests.support.fake_ami import Connection, FakeAmi, Received

SECRET = "s3cret-test"
CALL_ID = "5b0d3c52-8d0c-4d43-8b5e-0a3f54f1b0aa"


@pytest.fixture
async def fake() -> AsyncIterator[FakeAmi]:
    async with FakeAmi(secret=SECRET) as server:
        yield server


def make_client(fake: FakeAmi, secret: str = SECRET, **kwargs: float) -> AmiClient:
    options = {
        "ping_interval": 0.1,
        "ping_timeout": 0.2,
        "reconnect_max_delay": 0.1,
        "action_timeout": 1.0,
        **kwargs,
    }
    return AmiClient("127.0.0.1", fake.port, "opendeep", SecretStr(secret), **options)


@pytest.fixture
async def client(fake: FakeAmi) -> AsyncIterator[AmiClient]:
    async with make_client(fake) as ami:
        await ami.wait_connected(5)
        yield ami


def originate_args(call_id: str = CALL_ID) -> dict:
    return {
        "call_id": call_id,
        "channel": "PJSIP/201123@loopback",
        "context": "opendeep-agent",
        "exten": "s",
        "variables": {"CALL_ID": call_id},
    }


def originate_response(call_id: str, success: bool, reason: int) -> dict[str, str]:
    return {
        "Event": "OriginateResponse",
        "ActionID": ami_actions.originate_action_id(call_id),
        "Response": "Success" if success else "Failure",
        "Reason": str(reason),
        "Uniqueid": call_id,
        "Channel": "PJSIP/loopback-00000001",
    }


async def test_logs_in_and_reports_state(fake: FakeAmi) -> None:
    states: list[bool] = []
    ami = make_client(fake)
    ami.add_state_listener(states.append)
    async with ami:
        await ami.wait_connected(5)
        assert ami.connected
        await ami.ping()
    assert states == [True, False]
    assert fake.logins == 1
    login = fake.named("Login")[0].headers
    assert login["Username"] == "opendeep"
    assert login["Events"] == "on"


async def test_bad_login_is_a_clear_error_and_never_logs_the_secret(
    fake: FakeAmi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with make_client(fake, secret="wrong-secret-xyz") as ami:
        with pytest.raises(AmiNotConnected, match="login refused"):
            await ami.wait_connected(1)
        await fake.wait_for(lambda: len(fake.named("Login")) >= 2)  # keeps retrying
    assert not ami.connected
    assert fake.logins == 0
    assert caplog.records, "expected the failure to be logged"
    for record in caplog.records:
        text = record.getMessage() + " " + repr(record.__dict__)
        assert "wrong-secret-xyz" not in text


async def test_nothing_listening_times_out_with_the_last_error() -> None:
    async with FakeAmi() as gone:
        port = gone.port
    ami = AmiClient("127.0.0.1", port, "u", SecretStr("x"), reconnect_max_delay=0.05)
    async with ami:
        with pytest.raises(AmiNotConnected, match="not connected after"):
            await ami.wait_connected(0.3)
        assert ami.last_error is not None


async def test_built_from_settings(fake: FakeAmi) -> None:
    settings = AmiSettings(
        host="127.0.0.1", port=fake.port, username="opendeep", secret=SecretStr(SECRET)
    )
    async with AmiClient.from_settings(settings, action_timeout=1.0) as ami:
        await ami.wait_connected(5)
        await ami.ping()
    with pytest.raises(AmiError, match="AMI_SECRET"):
        AmiClient.from_settings(AmiSettings(_env_file=None, secret=None))


async def test_actions_fail_fast_when_not_connected(fake: FakeAmi) -> None:
    ami = make_client(fake)
    with pytest.raises(AmiNotConnected):
        await ami.hangup(CALL_ID)


async def test_originate_returns_when_queued_and_the_response_reaches_the_subscriber(
    fake: FakeAmi, client: AmiClient
) -> None:
    events = client.subscribe(CALL_ID)
    await client.originate(**originate_args(), timeout_ms=45000)
    # The fake answered "queued" only; the call's outcome has not happened yet.
    sent = fake.named("Originate")[0].headers
    assert sent["Async"] == "true"
    assert sent["ChannelId"] == CALL_ID
    assert sent["Variable"] == f"CALL_ID={CALL_ID}"
    assert sent["Timeout"] == "45000"
    fake.push({"Event": "Newstate", "Uniqueid": CALL_ID, "ChannelState": "5"})
    fake.push(originate_response(CALL_ID, True, 4))
    assert isinstance(await events.get(2), ami_events.Newstate)
    response = await events.get(2)
    assert isinstance(response, ami_events.OriginateResponse)
    assert response.reason == 4
    assert response.success


async def test_originate_error_reply_raises_action_failed(fake: FakeAmi, client: AmiClient) -> None:
    def refuse(conn: Connection, action: Received) -> None:
        conn.reply(action, "Error", Message="Extension does not exist.")

    fake.on("Originate", refuse)
    with pytest.raises(AmiActionFailed, match="Extension does not exist") as caught:
        await client.originate(**originate_args())
    assert caught.value.message == "Extension does not exist."


async def test_an_unanswered_action_times_out(fake: FakeAmi, client: AmiClient) -> None:
    fake.on("Hangup", lambda conn, action: None)  # never replies
    with pytest.raises(AmiTimeout, match="Hangup got no reply"):
        await client.hangup(CALL_ID, timeout=0.2)
    assert client.connected  # a slow action is not a dead connection


async def test_events_are_routed_by_uniqueid(fake: FakeAmi, client: AmiClient) -> None:
    ours = client.subscribe(CALL_ID)
    other = client.subscribe("other-call")
    fake.push({"Event": "Hangup", "Uniqueid": "1795489828.17", "Cause": "17"})  # far leg
    fake.push({"Event": "DTMFEnd", "Uniqueid": "other-call", "Digit": "5", "DurationMs": "90"})
    fake.push({"Event": "Hangup", "Uniqueid": CALL_ID, "Cause": "17", "Cause-txt": "User busy"})
    hangup = await ours.get(2)
    assert hangup == ami_events.Hangup(CALL_ID, "", 17, "User busy")
    assert isinstance(await other.get(2), ami_events.DtmfEnd)
    assert (ours.pending, other.pending) == (0, 0)  # the far leg's Hangup went nowhere
    client.unsubscribe(CALL_ID)
    fake.push({"Event": "Hangup", "Uniqueid": CALL_ID, "Cause": "16"})
    fake.push({"Event": "Newstate", "Uniqueid": "other-call", "ChannelState": "6"})
    # dispatched in order: the Hangup too
    assert isinstance(await other.get(2), ami_events.Newstate)
    assert ours.pending == 0


async def test_reconnects_after_the_server_drops_the_connection(
    fake: FakeAmi, client: AmiClient
) -> None:
    states: list[bool] = []
    client.add_state_listener(states.append)
    fake.drop_all()
    await fake.wait_for(lambda: fake.logins == 2)
    await client.wait_connected(5)
    await client.ping()
    assert states == [False, True]
    assert client.connections == 2


async def test_ping_watchdog_detects_a_half_open_connection(
    fake: FakeAmi, client: AmiClient
) -> None:
    fake.half_open()  # the socket stays open; nothing is answered any more
    await fake.wait_for(lambda: fake.logins == 2)
    await client.wait_connected(5)
    await client.ping()
    assert len(fake.live) == 1  # the dead socket was closed by the client


async def test_originate_is_never_replayed_after_a_reconnect(
    fake: FakeAmi, client: AmiClient
) -> None:
    """Asterisk may have placed the call: re-sending it would ring the person twice."""

    def drop_before_reply(conn: Connection, action: Received) -> None:
        conn.close()

    fake.on("Originate", drop_before_reply)
    fake.on("Hangup", drop_before_reply)
    events = client.subscribe(CALL_ID)
    with pytest.raises(AmiReplyLost, match="before the reply"):
        await client.originate(**originate_args())
    await client.wait_connected(5)
    with pytest.raises(AmiReplyLost):
        await client.hangup(CALL_ID)
    await client.wait_connected(5)
    # Third connection logged in and received FullyBooted (when panoramisk would replay);
    # a Ping answered on it proves the client has been running past that point.
    await fake.wait_for(lambda: fake.logins == 3)
    await client.ping()
    assert len(fake.named("Originate")) == 1
    assert len(fake.named("Hangup")) == 1
    # Asterisk broadcasts OriginateResponse, so the outcome still reaches the call.
    fake.push(originate_response(CALL_ID, False, 5))
    response = await events.get(2)
    assert isinstance(response, ami_events.OriginateResponse)
    assert response.reason == 5


async def test_play_dtmf_sends_digits_in_order_with_pauses(
    fake: FakeAmi, client: AmiClient
) -> None:
    await client.play_dtmf(CALL_ID, "1w#9", gap_ms=10, duration_ms=20)
    sent = [r.headers for r in fake.named("PlayDTMF")]
    assert [(h["Channel"], h["Digit"], h["Duration"]) for h in sent] == [
        (CALL_ID, "1", "20"),
        (CALL_ID, "#", "20"),
        (CALL_ID, "9", "20"),
    ]


async def test_play_dtmf_validates_all_digits_before_sending_any(
    fake: FakeAmi, client: AmiClient
) -> None:
    with pytest.raises(ami_actions.AmiProtocolError):
        await client.play_dtmf(CALL_ID, "12x")
    assert fake.named("PlayDTMF") == []


async def test_play_dtmf_survives_panoramisk_queued_heuristic(
    fake: FakeAmi, client: AmiClient
) -> None:
    """Asterisk answers "DTMF successfully queued"; panoramisk 1.4's Action.multi then reads
    the missing Async header and raised KeyError inside data_received, killing the link."""

    def queued(conn: Connection, action: Received) -> None:
        conn.reply(action, Message="DTMF successfully queued")

    fake.on("PlayDTMF", queued)
    await client.play_dtmf(CALL_ID, "5", gap_ms=0, duration_ms=10)
    assert client.connections == 1
    await client.ping()


def channel_list(item: str) -> Callable[[Connection, Received], None]:
    """A handler answering like Asterisk's Status / CoreShowChannels: reply, items, Complete."""

    def handler(conn: Connection, action: Received) -> None:
        conn.reply(action, EventList="start", Message="Channels will follow")
        for uid in (CALL_ID, "1795.2"):
            conn.send({"Event": item, "ActionID": action.action_id, "Uniqueid": uid})
        conn.send(
            {
                "Event": f"{item}Complete" if item == "Status" else "CoreShowChannelsComplete",
                "ActionID": action.action_id,
                "EventList": "Complete",
                "ListItems": "2",
            }
        )

    return handler


async def test_getvar_redirect_setvar_and_channel_lists(fake: FakeAmi, client: AmiClient) -> None:
    def getvar(conn: Connection, action: Received) -> None:
        conn.reply(action, Variable="AMDSTATUS", Value="HUMAN")

    fake.on("Getvar", getvar)
    fake.on("Status", channel_list("Status"))
    fake.on("CoreShowChannels", channel_list("CoreShowChannel"))
    assert await client.getvar(CALL_ID, "AMDSTATUS") == "HUMAN"
    await client.redirect(CALL_ID, "transfer", "209")
    await client.setvar(CALL_ID, "X", "1")
    assert [c["Uniqueid"] for c in await client.list_channels()] == [CALL_ID, "1795.2"]
    assert [c["Uniqueid"] for c in await client.core_show_channels()] == [CALL_ID, "1795.2"]
    redirect = fake.named("Redirect")[0].headers
    assert (redirect["Context"], redirect["Exten"]) == ("transfer", "209")


async def test_core_show_channels_error_does_not_hang(fake: FakeAmi, client: AmiClient) -> None:
    fake.on("CoreShowChannels", lambda conn, action: conn.reply(action, "Error", Message="no"))
    with pytest.raises(AmiActionFailed):
        await client.core_show_channels(timeout=1)


async def test_stop_ends_its_tasks_and_a_second_start_is_refused(fake: FakeAmi) -> None:
    before = {t.get_name() for t in asyncio.all_tasks()}
    ami = make_client(fake)
    await ami.start()
    await ami.wait_connected(5)
    with pytest.raises(RuntimeError):
        await ami.start()
    await ami.stop()
    after = {t.get_name() for t in asyncio.all_tasks() if not t.done()}
    assert not {n for n in after - before if n.startswith("ami:")}
    assert not ami.connected


def test_panoramisk_log_lines_never_carry_a_secret(caplog: pytest.LogCaptureFixture) -> None:
    """panoramisk logs whole actions on send failures ('Fail to send <Login ...>')."""
    caplog.set_level(logging.DEBUG, logger="panoramisk")
    pk_log = logging.getLogger("panoramisk.opendeep")
    pk_log.error("Fail to send %r", {"Action": "Login", "Secret": "hunter22", "Username": "u"})
    pk_log.error("Fail to send Action: Login\r\nSecret: hunter22\r\nUsername: u")
    assert len(caplog.records) == 2
    assert "hunter22" not in caplog.text
    assert "Username" in caplog.text
