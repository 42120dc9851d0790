"""What the simulated line says over AMI, as header mappings; pure, no sockets.

Why these messages and fields: they are what Asterisk sends for an answered Originate and
what OpenDeep's AMI client reads (docs/protocols.md, Originate; OriginateResponse and the
Hangup cause; Channel events we read): the reply "Originate successfully queued", then
Newstate Ringing (5), OriginateResponse Success with Reason 4, Newstate Up (6), and at
the end a Hangup with Q.850 cause 16. Every event carries `Uniqueid` = the Originate's
`ChannelId` (the call id), which is how the client routes it to the call.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from call_processor.ami.wire import HeaderValue, header_values

Message = dict[str, HeaderValue]
BANNER = b"Asterisk Call Manager/11.0.0\r\n"
NORMAL_CLEARING = 16


def get(message: Mapping[str, HeaderValue], key: str) -> str:
    """A header's first value, whatever the case of its name ("" when absent)."""
    for name, value in message.items():
        if name.lower() == key.lower():
            values = header_values(value)
            return values[0] if values else ""
    return ""


def variables(message: Mapping[str, HeaderValue]) -> dict[str, str]:
    """An Originate's `Variable: NAME=value` headers."""
    out: dict[str, str] = {}
    for name, value in message.items():
        if name.lower() == "variable":
            for item in header_values(value):
                key, sep, val = item.partition("=")
                if sep:
                    out[key] = val
    return out


@dataclass(frozen=True)
class Dialed:
    """One Originate, as the line needs it."""

    action_id: str
    call_id: str
    number: str
    audiosocket: tuple[str, int]
    channel: str


class BadOriginate(ValueError):
    """An Originate the line cannot place (the reply says why)."""


def dialed(action: Mapping[str, HeaderValue]) -> Dialed:
    """The call an Originate asks for; the number is the channel's digits
    (`PJSIP/442079460101@demo` → `+442079460101`)."""
    call_id = get(action, "ChannelId")
    address = variables(action).get("AUDIOSOCKET_ADDR", "")
    host, sep, port = address.rpartition(":")
    digits = re.search(r"/\+?(\d+)", get(action, "Channel"))
    if not call_id or not sep or not port.isdigit() or digits is None:
        raise BadOriginate("Originate needs ChannelId, AUDIOSOCKET_ADDR and a dialable channel")
    number = "+" + digits.group(1)
    channel = f"Demo/{digits.group(1)}-{call_id[:8]}"
    return Dialed(get(action, "ActionID"), call_id, number, (host, int(port)), channel)


def reply(action_id: str, response: str = "Success", **fields: str) -> Message:
    return {"Response": response, "ActionID": action_id, **fields}


def newstate(call: Dialed, state: int) -> Message:
    desc = {5: "Ringing", 6: "Up"}[state]
    return {
        "Event": "Newstate", "Privilege": "call,all", "Channel": call.channel,
        "ChannelState": str(state), "ChannelStateDesc": desc, "Uniqueid": call.call_id,
    }  # fmt: skip


def answered(call: Dialed) -> Message:
    return {
        "Event": "OriginateResponse", "Privilege": "call,all", "ActionID": call.action_id,
        "Response": "Success", "Channel": call.channel, "Reason": "4",
        "Uniqueid": call.call_id,
    }  # fmt: skip


def hangup(call: Dialed, cause: int = NORMAL_CLEARING) -> Message:
    return {
        "Event": "Hangup", "Privilege": "call,all", "Channel": call.channel,
        "Uniqueid": call.call_id, "Cause": str(cause), "Cause-txt": "Normal Clearing",
    }  # fmt: skip


def fully_booted() -> Message:
    return {"Event": "FullyBooted", "Privilege": "system,all", "Status": "Fully Booted"}
