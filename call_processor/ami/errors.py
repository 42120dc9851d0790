"""What can go wrong with an AMI action, as exceptions a call handler can tell apart.

Why a hierarchy: "never sent" (AmiNotConnected) may be retried, while "sent, reply lost"
(AmiReplyLost) must not be, since Asterisk may already be ringing the person.
"""

from __future__ import annotations


class AmiError(Exception):
    """Any AMI failure a caller can handle: not connected, refused, or no reply in time."""


class AmiNotConnected(AmiError):
    """No logged-in connection, or it was lost before Asterisk replied."""


class AmiLoginFailed(AmiNotConnected):
    """Asterisk refused the username/secret (the secret is never included)."""


class AmiActionFailed(AmiError):
    """Asterisk answered the action with an error; `message` is its Message header."""

    def __init__(self, action: str, message: str) -> None:
        super().__init__(f"{action} failed: {message or 'no message'}")
        self.action = action
        self.message = message


class AmiReplyLost(AmiError):
    """The action was sent but its reply never came: Asterisk may have carried it out.

    For an Originate this means the phone may be ringing; the caller must follow the call
    (events, or ask for the channel), not treat it as refused and dial again.
    """


class AmiTimeout(AmiReplyLost):
    """The action got no reply within its timeout (the connection may be half-open)."""
