"""AMI messages as typed values: events we read, actions we send, and call outcomes.

Pure: no sockets and no panoramisk. The asyncio adapter (`ami_client.py`) hands any header
mapping to `parse_event`; builders return plain dicts it sends. Keeping this free of I/O lets
hypothesis and recorded Asterisk transcripts exercise it without a server.

Wire facts (see PROTOCOLS.md §2): headers are `Key: Value` lines, a blank line ends a
message, keys are case-insensitive and may repeat (`Variable`, `ChanVariable`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

EOL = "\r\n"
HeaderValue = str | Sequence[str]
Headers = Mapping[str, HeaderValue]


class AmiProtocolError(ValueError):
    """An action cannot be expressed safely on the wire (e.g. a comma in a Variable value)."""


# ---------------------------------------------------------------- events


@dataclass(frozen=True)
class OriginateResponse:
    """The asynchronous end of an `Async: true` Originate: answered or why not."""

    action_id: str
    success: bool
    reason: int
    uniqueid: str
    channel: str


@dataclass(frozen=True)
class Newstate:
    uniqueid: str
    channel: str
    state: int
    state_desc: str
    call_id: str | None = None

    @property
    def is_up(self) -> bool:
        """ChannelState 6 = Up: the callee answered."""
        return self.state == CHANNEL_STATE_UP


@dataclass(frozen=True)
class Hangup:
    uniqueid: str
    channel: str
    cause: int
    cause_txt: str
    call_id: str | None = None


@dataclass(frozen=True)
class DtmfBegin:
    uniqueid: str
    channel: str
    digit: str
    direction: str
    call_id: str | None = None


@dataclass(frozen=True)
class DtmfEnd:
    uniqueid: str
    channel: str
    digit: str
    direction: str
    duration_ms: int
    call_id: str | None = None


@dataclass(frozen=True)
class UserEvent:
    """`UserEvent(name,Key: value,...)` from the dialplan (e.g. our AMD verdict)."""

    name: str
    fields: dict[str, str] = field(hash=False)
    uniqueid: str = ""
    call_id: str | None = None


@dataclass(frozen=True)
class FullyBooted:
    """Sent after Login when the user may read `system`: Asterisk is ready for actions."""


@dataclass(frozen=True)
class UnknownEvent:
    """An event we do not interpret; kept so a global listener can still count or log it."""

    name: str
    uniqueid: str = ""
    call_id: str | None = None


AmiEvent = (
    OriginateResponse
    | Newstate
    | Hangup
    | DtmfBegin
    | DtmfEnd
    | UserEvent
    | FullyBooted
    | UnknownEvent
)

CHANNEL_STATE_UP = 6


def _lower_keys(headers: Headers) -> dict[str, HeaderValue]:
    out: dict[str, HeaderValue] = {}
    for key, value in headers.items():
        low = key.lower()
        if low in out:  # the same key twice in different case: keep every value
            out[low] = [*_all(out[low]), *_all(value)]
        else:
            out[low] = value
    return out


def _all(value: HeaderValue) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _first(headers: Mapping[str, HeaderValue], key: str, default: str = "") -> str:
    value = headers.get(key)
    if value is None:
        return default
    values = _all(value)
    return values[0].strip() if values else default


def _int(headers: Mapping[str, HeaderValue], key: str, default: int = 0) -> int:
    text = _first(headers, key)
    try:
        return int(text)
    except ValueError:
        return default


def chan_variables(headers: Headers) -> dict[str, str]:
    """`ChanVariable: NAME=value` headers (repeatable) as a dict; names keep their case."""
    low = _lower_keys(headers)
    out: dict[str, str] = {}
    for item in _all(low.get("chanvariable", [])):
        name, sep, value = item.partition("=")
        if sep:
            out[name.strip()] = value
    return out


def _call_id(low: Mapping[str, HeaderValue], raw: Headers) -> str | None:
    """CALL_ID from `channelvars = CALL_ID`, when set; an empty value means another channel."""
    if "chanvariable" not in low:
        return None
    return chan_variables(raw).get("CALL_ID") or None


def parse_event(headers: Headers) -> AmiEvent | None:
    """Typed event for an AMI message, or None when the message is not an event."""
    low = _lower_keys(headers)
    name = _first(low, "event")
    if not name:
        return None
    key = name.lower()
    uniqueid = _first(low, "uniqueid")
    channel = _first(low, "channel")
    call_id = _call_id(low, headers)
    if key == "originateresponse":
        return OriginateResponse(
            action_id=_first(low, "actionid"),
            success=_first(low, "response").lower() == "success",
            reason=_int(low, "reason"),
            uniqueid=uniqueid,
            channel=channel,
        )
    if key == "newstate":
        state = _int(low, "channelstate", -1)
        return Newstate(uniqueid, channel, state, _first(low, "channelstatedesc"), call_id)
    if key == "hangup":
        return Hangup(uniqueid, channel, _int(low, "cause"), _first(low, "cause-txt"), call_id)
    if key in ("dtmfbegin", "dtmfend"):
        return _parse_dtmf(key, low, uniqueid, channel, call_id)
    if key == "userevent":
        return _parse_user_event(low, uniqueid, call_id)
    if key == "fullybooted":
        return FullyBooted()
    return UnknownEvent(name, uniqueid, call_id)


def _parse_dtmf(
    key: str, low: Mapping[str, HeaderValue], uniqueid: str, channel: str, call_id: str | None
) -> DtmfBegin | DtmfEnd:
    digit, direction = _first(low, "digit"), _first(low, "direction")
    if key == "dtmfbegin":
        return DtmfBegin(uniqueid, channel, digit, direction, call_id)
    return DtmfEnd(uniqueid, channel, digit, direction, _int(low, "durationms"), call_id)


_USER_EVENT_SKIP = frozenset({"event", "userevent", "privilege", "chanvariable"})


def _parse_user_event(
    low: Mapping[str, HeaderValue], uniqueid: str, call_id: str | None
) -> UserEvent:
    fields = {k: _first(low, k) for k in low if k not in _USER_EVENT_SKIP}
    return UserEvent(_first(low, "userevent"), fields, uniqueid, call_id)


def routing_keys(event: AmiEvent) -> tuple[str, ...]:
    """Ids a call's subscriber may be registered under: Uniqueid, then CALL_ID if different.

    We originate with ChannelId = call id, so our leg's Uniqueid *is* the call id. The far
    leg of a loopback call has its own Uniqueid and an empty CALL_ID, so it never matches.
    An OriginateResponse is also routed by the call id inside its ActionID, because when no
    channel could be created Asterisk may report Uniqueid `<unknown>`.
    """
    keys: list[str] = []
    uniqueid = getattr(event, "uniqueid", "")
    if uniqueid and uniqueid != "<unknown>":
        keys.append(uniqueid)
    call_id = getattr(event, "call_id", None)
    if call_id and call_id not in keys:
        keys.append(call_id)
    if isinstance(event, OriginateResponse):
        from_action = call_id_from_action_id(event.action_id)
        if from_action and from_action not in keys:
            keys.append(from_action)
    return tuple(keys)


# ---------------------------------------------------------------- outcomes


class CallOutcome(StrEnum):
    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    CONGESTION = "congestion"
    FAILED = "failed"


_BY_CAUSE = {
    17: CallOutcome.BUSY,  # user busy
    18: CallOutcome.NO_ANSWER,  # no user response
    19: CallOutcome.NO_ANSWER,  # no answer
    34: CallOutcome.CONGESTION,  # no circuit available
    38: CallOutcome.CONGESTION,  # network out of order
    41: CallOutcome.CONGESTION,  # temporary failure
    42: CallOutcome.CONGESTION,  # switching equipment congestion
    1: CallOutcome.FAILED,  # unallocated number
    3: CallOutcome.FAILED,  # no route to destination
    28: CallOutcome.FAILED,  # invalid number format
}
_BY_REASON = {
    4: CallOutcome.ANSWERED,
    5: CallOutcome.BUSY,
    3: CallOutcome.NO_ANSWER,
    8: CallOutcome.CONGESTION,
}


def originate_outcome(reason: int, hangup_cause: int | None = None) -> CallOutcome:
    """Why an originated call ended before (or by) being answered.

    Reason 4 (answered) always wins. Otherwise a known Q.850 cause from the channel's
    Hangup is more precise than Reason (Reason 1 "hung up" or 0 hide busy/congestion),
    and Reason decides when the cause says nothing specific.
    """
    if reason == 4:
        return CallOutcome.ANSWERED
    if hangup_cause is not None and hangup_cause in _BY_CAUSE:
        return _BY_CAUSE[hangup_cause]
    return _BY_REASON.get(reason, CallOutcome.FAILED)


class OutcomeTracker:
    """Fold one call's events into its outcome; pure, fed by the call's subscriber.

    Recorded from Asterisk 22: a busy or congested callee gives OriginateResponse
    `Failure` with Reason 0 for both, and the Hangup with the telling cause (17 / 34)
    arrives *after* it. So a failed OriginateResponse alone is not an answer: wait for the
    channel's Hangup, or call `give_up()` after a short grace to decide on Reason alone.
    """

    def __init__(self) -> None:
        self.reason: int | None = None
        self.hangup_cause: int | None = None
        self.outcome: CallOutcome | None = None

    def feed(self, event: AmiEvent) -> CallOutcome | None:
        """Record an event of this call; the outcome once it is known."""
        if self.outcome is None:
            if isinstance(event, Hangup):
                self.hangup_cause = event.cause
            elif isinstance(event, OriginateResponse):
                self.reason = event.reason if not event.success else 4
            if self.reason == 4:
                self.outcome = CallOutcome.ANSWERED
            elif self.reason is not None and self.hangup_cause is not None:
                self.outcome = originate_outcome(self.reason, self.hangup_cause)
        return self.outcome

    @property
    def waiting_for_hangup(self) -> bool:
        return self.outcome is None and self.reason is not None

    def give_up(self) -> CallOutcome:
        """Decide with what we have: the Hangup cause if one came (it can arrive before the
        OriginateResponse, or without one), else Reason alone, else failed."""
        if self.outcome is None:
            reason = -1 if self.reason is None else self.reason
            self.outcome = originate_outcome(reason, self.hangup_cause)
        return self.outcome


# ---------------------------------------------------------------- actions

Action = dict[str, str | list[str]]
_ACTION_ID_PREFIX = "originate:"
_VAR_NAME = re.compile(r"^_{0,2}[A-Za-z][A-Za-z0-9_]*$")
_DTMF_DIGITS = frozenset("0123456789*#ABCDabcd")


def originate_action_id(call_id: str) -> str:
    return f"{_ACTION_ID_PREFIX}{call_id}"


def call_id_from_action_id(action_id: str) -> str | None:
    return (
        action_id.removeprefix(_ACTION_ID_PREFIX)
        if action_id.startswith(_ACTION_ID_PREFIX)
        else None
    )


def _header_safe(name: str, value: str) -> str:
    if "\r" in value or "\n" in value:
        raise AmiProtocolError(f"{name} must not contain a line break")
    return value


def originate(
    call_id: str,
    channel: str,
    context: str,
    exten: str,
    priority: int | str,
    timeout_ms: int,
    caller_id: str = "",
    variables: Mapping[str, str] | None = None,
) -> Action:
    """An async Originate whose new channel's Uniqueid is the call id (ChannelId).

    `Async` is the string "true": panoramisk compares it with the string "false" and a
    Python bool would be sent as "True". Asterisk splits a Variable header on commas, so a
    value with a comma would silently become two variables; we refuse it instead.
    """
    if not call_id or len(call_id) > 149:
        raise AmiProtocolError("call_id must be 1..149 characters (Asterisk's uniqueid limit)")
    action: Action = {
        "Action": "Originate",
        "ActionID": originate_action_id(_header_safe("call_id", call_id)),
        "Channel": _header_safe("Channel", channel),
        "Context": _header_safe("Context", context),
        "Exten": _header_safe("Exten", exten),
        "Priority": _header_safe("Priority", str(priority)),
        "Timeout": str(int(timeout_ms)),
        "ChannelId": call_id,
        "Async": "true",
    }
    if caller_id:
        action["CallerID"] = _header_safe("CallerID", caller_id)
    pairs = [_variable(name, value) for name, value in (variables or {}).items()]
    if pairs:
        action["Variable"] = pairs
    return action


def _variable(name: str, value: str) -> str:
    if not _VAR_NAME.match(name):
        raise AmiProtocolError(f"bad channel variable name {name!r}")
    if "," in value:
        raise AmiProtocolError(f"variable {name} contains a comma, which Asterisk would split")
    return f"{name}={_header_safe(name, value)}"


def hangup(channel_or_uniqueid: str, cause: int = 16) -> Action:
    if not 0 <= cause <= 127:
        raise AmiProtocolError("hangup cause must be 0..127")
    return {
        "Action": "Hangup",
        "Channel": _header_safe("Channel", channel_or_uniqueid),
        "Cause": str(cause),
    }


def play_dtmf(channel: str, digit: str, duration_ms: int = 250) -> Action:
    """One DTMF digit; PlayDTMF takes exactly one (0-9, *, #, A-D)."""
    if len(digit) != 1 or digit not in _DTMF_DIGITS:
        raise AmiProtocolError("PlayDTMF takes one digit 0-9, *, #, A-D")
    return {
        "Action": "PlayDTMF",
        "Channel": _header_safe("Channel", channel),
        "Digit": digit.upper(),
        "Duration": str(int(duration_ms)),
    }


def redirect(channel: str, context: str, exten: str, priority: int | str = 1) -> Action:
    """Blind transfer: send the channel to another place in the dialplan."""
    return {
        "Action": "Redirect",
        "Channel": _header_safe("Channel", channel),
        "Context": _header_safe("Context", context),
        "Exten": _header_safe("Exten", exten),
        "Priority": _header_safe("Priority", str(priority)),
    }


def getvar(channel: str, variable: str) -> Action:
    return {
        "Action": "Getvar",
        "Channel": _header_safe("Channel", channel),
        "Variable": _header_safe("Variable", variable),
    }


def setvar(channel: str, variable: str, value: str) -> Action:
    if not _VAR_NAME.match(variable):
        raise AmiProtocolError(f"bad channel variable name {variable!r}")
    return {
        "Action": "Setvar",
        "Channel": _header_safe("Channel", channel),
        "Variable": variable,
        "Value": _header_safe(variable, value),
    }


def ping() -> Action:
    return {"Action": "Ping"}


def core_show_channels() -> Action:
    """Needs write=system or reporting, which the least-privilege user lacks: see status()."""
    return {"Action": "CoreShowChannels"}


def status() -> Action:
    """Every live channel as `Status` events; allowed with write=call."""
    return {"Action": "Status"}


# ---------------------------------------------------------------- wire codec


def encode(headers: Mapping[str, HeaderValue] | Iterable[tuple[str, str]]) -> bytes:
    """One AMI message; a list value becomes one header line per item."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    lines: list[str] = []
    for key, value in items:
        lines += [f"{key}: {v}" for v in _all(value)]
    return (EOL.join(lines) + EOL + EOL).encode()


def decode(block: str) -> dict[str, HeaderValue]:
    """One message's header block; repeated keys (any case) become lists, order kept."""
    out: dict[str, HeaderValue] = {}
    spelled: dict[str, str] = {}
    for line in block.split("\n"):
        key, sep, value = line.rstrip("\r").partition(": ")
        if not sep:
            continue
        name = spelled.setdefault(key.lower(), key)
        if name in out:
            out[name] = [*_all(out[name]), value]
        else:
            out[name] = value
    return out


def split_messages(buffer: str) -> tuple[list[str], str]:
    """Complete message blocks in `buffer`, and the incomplete rest to keep for later."""
    parts = re.split(r"\r?\n\r?\n", buffer)
    rest = parts.pop()
    return [p for p in parts if p.strip()], rest
