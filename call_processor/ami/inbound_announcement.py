"""The dialplan's announcement of an inbound call, read from its AMI UserEvent. Pure.

Why an announcement: AudioSocket carries only a UUID and audio, so `[opendeep-inbound-call]`
(asterisk/extensions.conf) makes a fresh CALL_ID and sends
`UserEvent(OpenDeepInbound,CallID: …,CallerDigits: …,DID: …)` before it runs
`AudioSocket(${CALL_ID},…)` (docs/protocols.md, Passing the caller to AudioSocket). The
event also carries the channel's own Uniqueid, which is what AMI actions (Hangup, Redirect)
and the channel's Hangup event name it by: it is not the call id, unlike the calls we
originate. Only a well-formed announcement is accepted: a CallID that is not a UUID could
never attach anyway, and one without a Uniqueid could not be followed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from call_processor.ami.events import UserEvent

INBOUND_EVENT = "OpenDeepInbound"
_DIGITS = frozenset("+0123456789")
MAX_NUMBER = 32  # a caller id longer than this is not a phone number


@dataclass(frozen=True, slots=True)
class InboundAnnouncement:
    call_id: str  # canonical UUID; AudioSocket sends it first
    channel_ref: str  # the inbound channel's Uniqueid (AMI actions and its Hangup event)
    channel: str  # the channel's name, e.g. PJSIP/trunk-00000012
    caller_digits: str  # "+" and digits as the network delivered them; "" when withheld
    did: str  # the number they dialled (ours), digits only; "" when none


def read_announcement(event: UserEvent) -> InboundAnnouncement | None:
    """The announcement in an `OpenDeepInbound` UserEvent; None for any other event or
    one that cannot name a call."""
    if not event.is_named(INBOUND_EVENT) or not event.uniqueid:
        return None
    try:
        call_id = str(uuid.UUID(event.field("CallID") or ""))
    except ValueError:
        return None
    return InboundAnnouncement(
        call_id=call_id,
        channel_ref=event.uniqueid,
        channel=event.field("Channel") or "",
        caller_digits=_number(event.field("CallerDigits")),
        did=_number(event.field("DID")).removeprefix("+"),
    )


def _number(raw: str | None) -> str:
    """Only "+" and digits (the dialplan filters already; this does not trust it)."""
    kept = "".join(ch for ch in (raw or "").strip() if ch in _DIGITS)
    return kept if len(kept) <= MAX_NUMBER else ""
