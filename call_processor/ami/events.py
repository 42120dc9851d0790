"""AMI events we read, as typed values; pure, no sockets and no panoramisk.

The asyncio adapter (`ami_client.py`) hands any header mapping to `parse_event` and routes
the result with `routing_keys`. Keeping this free of I/O lets hypothesis and recorded
Asterisk transcripts exercise it without a server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field

from call_processor.ami.actions import call_id_from_action_id
from call_processor.ami.wire import Headers, HeaderValue, header_values


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
    """`UserEvent(name,Key: value,...)` from the dialplan (e.g. our AMD verdict).

    AMI header names are case-insensitive and the parser stores them lowercased, so the
    body is private: read it with `field()`, which ignores case (`field("Status")` and
    `field("status")` are the same header), and match the name with `is_named()`.
    """

    name: str
    _fields: Mapping[str, str] = dataclass_field(hash=False)
    uniqueid: str = ""
    call_id: str | None = None

    def __post_init__(self) -> None:
        lowered = {key.lower(): value for key, value in self._fields.items()}
        object.__setattr__(self, "_fields", lowered)  # frozen: set once, here

    def field(self, key: str) -> str | None:
        """The value of header `key`, in any case; None when the event has no such header."""
        return self._fields.get(key.lower())

    def is_named(self, name: str) -> bool:
        return self.name.lower() == name.lower()


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
            out[low] = [*header_values(out[low]), *header_values(value)]
        else:
            out[low] = value
    return out


def _first(headers: Mapping[str, HeaderValue], key: str, default: str = "") -> str:
    value = headers.get(key)
    if value is None:
        return default
    values = header_values(value)
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
    for item in header_values(low.get("chanvariable", [])):
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
