"""AMI actions we send, built as plain dicts; pure, no sockets and no panoramisk.

Why builders rather than dicts at the call site: each one refuses values Asterisk would
misread (a line break ends a header, a comma splits a Variable), so a bad value fails here
with AmiProtocolError instead of doing something else on a live channel.
"""

from __future__ import annotations

import re
from collections.abc import Mapping


class AmiProtocolError(ValueError):
    """An action cannot be expressed safely on the wire (e.g. a comma in a Variable value)."""


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


def setvar(channel: str | None, variable: str, value: str) -> Action:
    """A channel variable; with no channel, a global one (write=call allows both:
    docs/protocols.md, The OpenDeep AMI user)."""
    if not _VAR_NAME.match(variable):
        raise AmiProtocolError(f"bad channel variable name {variable!r}")
    action: Action = {
        "Action": "Setvar",
        "Variable": variable,
        "Value": _header_safe(variable, value),
    }
    if channel is not None:
        action["Channel"] = _header_safe("Channel", channel)
    return action


def ping() -> Action:
    return {"Action": "Ping"}


def core_show_channels() -> Action:
    """Needs write=system or reporting, which the least-privilege user lacks: see status()."""
    return {"Action": "CoreShowChannels"}


def status() -> Action:
    """Every live channel as `Status` events; allowed with write=call."""
    return {"Action": "Status"}
