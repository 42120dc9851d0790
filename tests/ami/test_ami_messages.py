"""Pure tests of the AMI message layer: parser, outcome mapping, builders, wire codec."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from call_processor.ami import actions as ami_actions
from call_processor.ami import events as ami_events
from call_processor.ami import outcomes as ami_outcomes
from call_processor.ami import wire as ami_wire
from call_processor.ami.outcomes import CallOutcome as O

CALL_ID = "0b6c8a8e-3f5e-4a57-9a39-7c1f2f6d9c11"

header_key = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,15}", fullmatch=True)
header_value = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=30
)
var_name = st.from_regex(r"_{0,2}[A-Za-z][A-Za-z0-9_]{0,15}", fullmatch=True)
safe_value = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n,"), max_size=30
)


# ------------------------------------------------------------------ parser


def test_originate_response_is_parsed_with_case_insensitive_keys() -> None:
    event = ami_events.parse_event(
        {
            "EVENT": "OriginateResponse",
            "actionid": f"originate:{CALL_ID}",
            "Response": "Failure",
            "reason": "5",
            "UniqueID": CALL_ID,
            "Channel": "PJSIP/204@loopback",
        }
    )
    assert event == ami_events.OriginateResponse(
        f"originate:{CALL_ID}", False, 5, CALL_ID, "PJSIP/204@loopback"
    )


def test_channel_events_are_typed() -> None:
    base = {"Uniqueid": CALL_ID, "Channel": "PJSIP/loopback-0001"}
    newstate = ami_events.parse_event(
        {"Event": "Newstate", "ChannelState": "6", "ChannelStateDesc": "Up", **base}
    )
    hangup = ami_events.parse_event(
        {"Event": "Hangup", "Cause": "17", "Cause-txt": "User busy", **base}
    )
    begin = ami_events.parse_event(
        {"Event": "DTMFBegin", "Digit": "7", "Direction": "Received", **base}
    )
    end = ami_events.parse_event(
        {"Event": "DTMFEnd", "Digit": "7", "Direction": "Sent", "DurationMs": "300", **base}
    )
    assert isinstance(newstate, ami_events.Newstate)
    assert newstate.is_up
    assert newstate.state_desc == "Up"
    assert hangup == ami_events.Hangup(CALL_ID, "PJSIP/loopback-0001", 17, "User busy")
    assert begin == ami_events.DtmfBegin(CALL_ID, "PJSIP/loopback-0001", "7", "Received")
    assert end == ami_events.DtmfEnd(CALL_ID, "PJSIP/loopback-0001", "7", "Sent", 300)


def test_user_event_keeps_its_body_and_fully_booted_and_unknown() -> None:
    event = ami_events.parse_event(
        {
            "Event": "UserEvent",
            "Privilege": "user,all",
            "UserEvent": "OpenDeepAMD",
            "Uniqueid": CALL_ID,
            "Status": "MACHINE",
            "Cause": "LONGGREETING-1600-1500",
        }
    )
    assert isinstance(event, ami_events.UserEvent)
    assert event.name == "OpenDeepAMD"
    assert event.uniqueid == CALL_ID
    assert event.is_named("opendeepamd")
    assert event.field("Status") == event.field("status") == "MACHINE"
    assert event.field("CAUSE") == "LONGGREETING-1600-1500"
    assert event.field("Privilege") is None
    assert ami_events.UserEvent("X", {"Status": "HUMAN"}).field("status") == "HUMAN"
    assert (
        ami_events.parse_event({"Event": "FullyBooted", "Status": "Fully Booted"})
        == ami_events.FullyBooted()
    )
    assert ami_events.parse_event({"Event": "VarSet", "Uniqueid": "x"}) == ami_events.UnknownEvent(
        "VarSet", "x"
    )


def test_responses_are_not_events() -> None:
    assert (
        ami_events.parse_event({"Response": "Success", "ActionID": "1", "Message": "Pong"}) is None
    )


def test_repeated_chan_variables_give_call_id_and_far_leg_is_not_routed_to_it() -> None:
    ours = ami_events.parse_event(
        {
            "Event": "Hangup",
            "Uniqueid": CALL_ID,
            "ChanVariable": ["CALL_ID=" + CALL_ID, "OTHER=a=b"],
            "Cause": "16",
        }
    )
    far = ami_events.parse_event(
        {
            "Event": "Hangup",
            "Uniqueid": "1795489828.17",
            "ChanVariable": ["CALL_ID="],
            "Cause": "16",
        }
    )
    assert ours is not None
    assert far is not None
    assert ours.call_id == CALL_ID
    assert ami_events.routing_keys(ours) == (CALL_ID,)
    assert far.call_id is None
    assert ami_events.routing_keys(far) == ("1795489828.17",)
    assert ami_events.chan_variables({"chanvariable": ["OTHER=a=b"]}) == {"OTHER": "a=b"}


def test_call_id_chan_variable_routes_a_leg_with_another_uniqueid() -> None:
    event = ami_events.parse_event(
        {"Event": "Newstate", "Uniqueid": "1795.9", "ChanVariable": f"CALL_ID={CALL_ID}"}
    )
    assert event is not None
    assert ami_events.routing_keys(event) == ("1795.9", CALL_ID)


def test_originate_response_without_channel_is_routed_by_action_id() -> None:
    event = ami_events.parse_event(
        {
            "Event": "OriginateResponse",
            "ActionID": ami_actions.originate_action_id(CALL_ID),
            "Response": "Failure",
            "Reason": "0",
            "Uniqueid": "<unknown>",
        }
    )
    assert event is not None
    assert ami_events.routing_keys(event) == (CALL_ID,)


@given(
    st.dictionaries(header_key, st.one_of(header_value, st.lists(header_value, max_size=3))),
    st.sampled_from(
        ["OriginateResponse", "Newstate", "Hangup", "DTMFBegin", "DTMFEnd", "UserEvent", "Foo"]
    ),
)
def test_parse_event_never_raises_on_arbitrary_headers(headers: dict, name: str) -> None:
    event = ami_events.parse_event({**headers, "Event": name})
    assert event is not None
    ami_events.routing_keys(event)  # total too


# ------------------------------------------------------------------ outcomes


@pytest.mark.parametrize(
    ("reason", "cause", "expected"),
    [
        (4, None, O.ANSWERED),
        (4, 17, O.ANSWERED),
        (5, None, O.BUSY),
        (0, 17, O.BUSY),  # recorded: Asterisk 22 reports busy as Reason 0 + cause 17
        (0, 34, O.CONGESTION),  # recorded: congestion likewise
        (3, 19, O.NO_ANSWER),  # recorded
        (3, None, O.NO_ANSWER),
        (1, 18, O.NO_ANSWER),
        (8, None, O.CONGESTION),
        (1, 38, O.CONGESTION),
        (1, 41, O.CONGESTION),
        (0, 42, O.CONGESTION),
        (0, 1, O.FAILED),
        (0, 3, O.FAILED),
        (0, 28, O.FAILED),
        (0, None, O.FAILED),
        (1, 16, O.FAILED),
        (5, 16, O.BUSY),
    ],
)
def test_originate_outcome(reason: int, cause: int | None, expected: O) -> None:
    assert ami_outcomes.originate_outcome(reason, cause) is expected


@given(st.integers(-5, 20), st.one_of(st.none(), st.integers(0, 127)))
def test_originate_outcome_is_total_and_answer_wins(reason: int, cause: int | None) -> None:
    outcome = ami_outcomes.originate_outcome(reason, cause)
    assert isinstance(outcome, O)
    assert (outcome is O.ANSWERED) == (reason == 4)


def test_outcome_tracker_waits_for_the_hangup_after_a_failed_originate_response() -> None:
    tracker = ami_outcomes.OutcomeTracker()
    failed = ami_events.OriginateResponse("a", False, 0, CALL_ID, "PJSIP/x")
    assert tracker.feed(failed) is None
    assert tracker.waiting_for_hangup
    assert tracker.feed(ami_events.Hangup(CALL_ID, "PJSIP/x", 17, "User busy")) is O.BUSY
    assert tracker.feed(ami_events.Hangup(CALL_ID, "PJSIP/x", 34, "")) is O.BUSY  # decided once


def test_outcome_tracker_answer_and_give_up() -> None:
    answered = ami_outcomes.OutcomeTracker()
    assert answered.feed(ami_events.OriginateResponse("a", True, 4, CALL_ID, "c")) is O.ANSWERED
    silent = ami_outcomes.OutcomeTracker()
    silent.feed(ami_events.OriginateResponse("a", False, 3, CALL_ID, "c"))
    assert silent.give_up() is O.NO_ANSWER
    assert ami_outcomes.OutcomeTracker().give_up() is O.FAILED


# ------------------------------------------------------------------ builders


def test_originate_builder_sets_async_string_channel_id_and_variables() -> None:
    action = ami_actions.originate(
        CALL_ID, "PJSIP/201@loopback", "opendeep-agent", "s", 1, 30000, '"Bot" <100>',
        {"CALL_ID": CALL_ID, "AUDIOSOCKET_ADDR": "127.0.0.1:9092"},
    )  # fmt: skip
    assert action["Async"] == "true"
    assert isinstance(action["Async"], str)
    assert action["ChannelId"] == CALL_ID
    assert action["ActionID"] == ami_actions.originate_action_id(CALL_ID)
    assert ami_actions.call_id_from_action_id(str(action["ActionID"])) == CALL_ID
    assert action["Timeout"] == "30000"
    assert action["Priority"] == "1"
    assert action["Variable"] == [f"CALL_ID={CALL_ID}", "AUDIOSOCKET_ADDR=127.0.0.1:9092"]
    assert action["CallerID"] == '"Bot" <100>'


@given(var_name, safe_value)
def test_originate_variables_survive_the_wire(name: str, value: str) -> None:
    action = ami_actions.originate(CALL_ID, "PJSIP/1@t", "c", "s", 1, 1000, variables={name: value})
    decoded = ami_wire.decode(ami_wire.encode(action).decode())
    assert decoded["Variable"] == f"{name}={value}"


@given(var_name, safe_value, safe_value)
def test_originate_refuses_a_comma_in_a_variable_value(name: str, a: str, b: str) -> None:
    with pytest.raises(ami_actions.AmiProtocolError, match="comma"):
        ami_actions.originate(CALL_ID, "PJSIP/1@t", "c", "s", 1, 1000, variables={name: f"{a},{b}"})


@pytest.mark.parametrize(
    "bad",
    [
        {"channel": "PJSIP/1@t\r\nAction: Hangup"},
        {"call_id": ""},
        {"call_id": "x" * 150},
        {"variables": {"1BAD": "v"}},
        {"variables": {"OK": "line\nbreak"}},
    ],
)
def test_originate_refuses_unsafe_input(bad: dict) -> None:
    args = {"call_id": CALL_ID, "channel": "PJSIP/1@t", "variables": None, **bad}
    with pytest.raises(ami_actions.AmiProtocolError):
        ami_actions.originate(
            args["call_id"], args["channel"], "c", "s", 1, 1000, "", args["variables"]
        )


def test_small_builders() -> None:
    assert ami_actions.hangup(CALL_ID) == {"Action": "Hangup", "Channel": CALL_ID, "Cause": "16"}
    assert ami_actions.play_dtmf(CALL_ID, "a", 200) == {
        "Action": "PlayDTMF",
        "Channel": CALL_ID,
        "Digit": "A",
        "Duration": "200",
    }
    assert ami_actions.redirect("PJSIP/x-1", "transfer", "209", 1)["Exten"] == "209"
    assert ami_actions.getvar(CALL_ID, "AMDSTATUS") == {
        "Action": "Getvar",
        "Channel": CALL_ID,
        "Variable": "AMDSTATUS",
    }
    assert ami_actions.setvar(CALL_ID, "X", "1") == {
        "Action": "Setvar",
        "Channel": CALL_ID,
        "Variable": "X",
        "Value": "1",
    }
    # no Channel: a global, e.g. where inbound calls find our AudioSocket server
    assert ami_actions.setvar(None, "OPENDEEP_AUDIOSOCKET", "10.0.0.5:9092") == {
        "Action": "Setvar",
        "Variable": "OPENDEEP_AUDIOSOCKET",
        "Value": "10.0.0.5:9092",
    }
    assert ami_actions.ping() == {"Action": "Ping"}
    assert ami_actions.core_show_channels() == {"Action": "CoreShowChannels"}
    with pytest.raises(ami_actions.AmiProtocolError):
        ami_actions.hangup(CALL_ID, 128)
    for bad_digit in ("", "12", "w", "x"):
        with pytest.raises(ami_actions.AmiProtocolError):
            ami_actions.play_dtmf(CALL_ID, bad_digit)


# ------------------------------------------------------------------ wire codec


@given(st.lists(st.tuples(header_key, header_value), min_size=1, max_size=8))
def test_encode_decode_round_trip_keeps_repeats_in_order(pairs: list[tuple[str, str]]) -> None:
    decoded = ami_wire.decode(ami_wire.encode(pairs).decode())
    expected: dict[str, list[str]] = {}
    for key, value in pairs:
        expected.setdefault(key.lower(), []).append(value)
    got = {k.lower(): ([v] if isinstance(v, str) else list(v)) for k, v in decoded.items()}
    assert got == expected


@given(
    st.lists(st.lists(st.tuples(header_key, header_value), min_size=1, max_size=4), max_size=5),
    st.lists(st.integers(1, 40), max_size=20),
)
def test_split_messages_is_independent_of_chunking(
    messages: list[list[tuple[str, str]]], cuts: list[int]
) -> None:
    stream = "".join(ami_wire.encode(msg).decode() for msg in messages)
    whole, rest = ami_wire.split_messages(stream)
    assert rest == ""
    got: list[str] = []
    buffer, pos = "", 0
    for size in [*cuts, len(stream)]:
        buffer += stream[pos : pos + size]
        pos += size
        blocks, buffer = ami_wire.split_messages(buffer)
        got += blocks
    assert [ami_wire.decode(b) for b in got] == [ami_wire.decode(b) for b in whole]


@pytest.mark.parametrize(
    ("cause", "expected"), [(17, O.BUSY), (34, O.CONGESTION), (19, O.NO_ANSWER)]
)
def test_outcome_tracker_uses_a_hangup_that_came_before_the_originate_response(
    cause: int, expected: O
) -> None:
    """Seen on Asterisk 22: the busy channel's Hangup can overtake the OriginateResponse."""
    tracker = ami_outcomes.OutcomeTracker()
    assert tracker.feed(ami_events.Hangup(CALL_ID, "PJSIP/x", cause, "")) is None
    assert tracker.give_up() is expected
