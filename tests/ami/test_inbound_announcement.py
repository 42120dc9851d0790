"""The dialplan's OpenDeepInbound UserEvent, read into an InboundAnnouncement (pure), and
routed to its listener by AmiClient instead of to a call."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from call_processor.ami import events as ami_events
from call_processor.ami.call_events import CallEvents
from call_processor.ami.client import AmiClient
from call_processor.ami.inbound_announcement import (
    INBOUND_EVENT,
    InboundAnnouncement,
    read_announcement,
)
from tests.calls.conftest import wait_until
from tests.support.fake_ami import FakeAmi

CALL_ID = "b91a9ffe-23a3-401d-9304-4fdb8e7bddbe"
# As the sandbox's Asterisk 22.10.1 sent it for a call from +14155550123 to our 15550001111
# (some channel fields left out).
RECORDED = {
    "Event": "UserEvent",
    "Privilege": "user,all",
    "Channel": "PJSIP/loopback-00000001",
    "ChannelState": "6",
    "CallerIDNum": "+14155550123",
    "Context": "opendeep-inbound-call",
    "Exten": "s",
    "Uniqueid": "1796518251.1",
    "Linkedid": "1796518251.1",
    "UserEvent": "OpenDeepInbound",
    "CallID": CALL_ID,
    "CallerDigits": "+14155550123",
    "DID": "15550001111",
}


def parsed(headers: dict[str, str]) -> ami_events.UserEvent:
    event = ami_events.parse_event(headers)
    assert isinstance(event, ami_events.UserEvent)
    return event


def test_the_recorded_announcement_is_read() -> None:
    assert read_announcement(parsed(RECORDED)) == InboundAnnouncement(
        call_id=CALL_ID,
        channel_ref="1796518251.1",
        channel="PJSIP/loopback-00000001",
        caller_digits="+14155550123",
        did="15550001111",
    )


def test_the_call_id_is_canonical_and_a_withheld_caller_is_empty() -> None:
    upper = {**RECORDED, "CallID": CALL_ID.upper(), "CallerDigits": "", "DID": "+4420"}
    announcement = read_announcement(parsed(upper))
    assert announcement is not None
    assert (announcement.call_id, announcement.caller_digits, announcement.did) == (
        CALL_ID,
        "",
        "4420",
    )


@pytest.mark.parametrize(
    "change",
    [
        {"UserEvent": "OpenDeepAMD"},  # another event
        {"CallID": "1796518251.1"},  # not a UUID (Asterisk's ${UNIQUEID})
        {"CallID": ""},
        {"Uniqueid": ""},  # a channel we could not follow
    ],
)
def test_what_cannot_name_a_call_is_not_an_announcement(change: dict[str, str]) -> None:
    assert read_announcement(parsed({**RECORDED, **change})) is None


def test_a_caller_number_keeps_only_plus_and_digits_and_a_huge_one_is_none() -> None:
    odd = read_announcement(parsed({**RECORDED, "CallerDigits": "+1 (415) 555-0123"}))
    assert odd is not None
    assert odd.caller_digits == "+14155550123"
    huge = read_announcement(parsed({**RECORDED, "CallerDigits": "1" * 40}))
    assert huge is not None
    assert huge.caller_digits == ""


text = st.text(max_size=60)


@given(call_id=text, digits=text, did=text, uniqueid=text, channel=text)
def test_reading_never_raises_and_keeps_only_safe_values(
    call_id: str, digits: str, did: str, uniqueid: str, channel: str
) -> None:
    event = ami_events.UserEvent(
        INBOUND_EVENT,
        {"CallID": call_id, "CallerDigits": digits, "DID": did, "Channel": channel},
        uniqueid,
    )
    announcement = read_announcement(event)
    if announcement is None:
        return
    assert announcement.call_id == str(uuid.UUID(announcement.call_id))
    assert announcement.channel_ref == uniqueid != ""
    assert set(announcement.caller_digits) <= set("+0123456789")
    assert set(announcement.did) <= set("0123456789")
    assert len(announcement.caller_digits) <= 32


@given(st.uuids())
def test_any_uuid_announcement_is_read(call_id: uuid.UUID) -> None:
    announcement = read_announcement(parsed({**RECORDED, "CallID": str(call_id)}))
    assert announcement is not None
    assert announcement.call_id == str(call_id)


# --- routing in AmiClient -------------------------------------------------------------------
@pytest.fixture
async def client() -> AsyncIterator[tuple[FakeAmi, AmiClient]]:
    async with FakeAmi(secret="s3cret-test") as fake:
        ami = AmiClient("127.0.0.1", fake.port, "opendeep", SecretStr("s3cret-test"))
        async with ami:
            await ami.wait_connected(5)
            yield fake, ami


async def test_an_announcement_goes_to_its_listener_and_the_channel_is_then_followed(
    client: tuple[FakeAmi, AmiClient],
) -> None:
    fake, ami = client
    heard: list[ami_events.UserEvent] = []
    followed: dict[str, CallEvents] = {}

    def on_inbound(event: ami_events.UserEvent) -> None:
        heard.append(event)
        followed[event.uniqueid] = ami.subscribe(event.uniqueid)  # before any await

    ami.on_user_event(INBOUND_EVENT.upper(), on_inbound)  # names match in any case
    fake.push(RECORDED)
    fake.push({"Event": "Hangup", "Uniqueid": "1796518251.1", "Cause": "16"})
    await wait_until(lambda: bool(heard), timeout=2)
    hangup = await followed["1796518251.1"].get(2)  # dispatched after the listener ran
    assert isinstance(hangup, ami_events.Hangup)
    assert hangup.cause == 16
    assert read_announcement(heard[0]) == read_announcement(parsed(RECORDED))


async def test_other_user_events_still_reach_their_call_and_a_failing_listener_is_contained(
    client: tuple[FakeAmi, AmiClient],
) -> None:
    fake, ami = client

    def broken(event: ami_events.UserEvent) -> None:
        raise RuntimeError("bug in a listener")

    ami.on_user_event(INBOUND_EVENT, broken)
    call = ami.subscribe(CALL_ID)
    fake.push(RECORDED)
    fake.push({"Event": "UserEvent", "UserEvent": "OpenDeepAMD", "Uniqueid": CALL_ID,
               "Status": "HUMAN"})  # fmt: skip
    amd = await call.get(2)
    assert isinstance(amd, ami_events.UserEvent)
    assert amd.field("status") == "HUMAN"
    assert call.pending == 0  # the announcement went to the listener, not to a call
