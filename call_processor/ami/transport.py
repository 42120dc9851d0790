"""The panoramisk 1.4 pieces AmiClient stands on, each fixing one of its defaults.

Why apart from AmiClient: these are subclasses and a log filter that only make sense next
to panoramisk's internals (its reply guessing, reconnect and replay, its whole-action log
lines), plus the two steps of one connection that are panoramisk calls: building its
Manager and logging in. AmiClient owns the connection loop and every timeout; here
panoramisk is narrowed to framing, parsing and matching replies to ActionIDs.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from typing import Any

from panoramisk import actions as pk_actions
from panoramisk.manager import Manager
from panoramisk.message import Message

from call_processor.ami.errors import AmiLoginFailed, AmiNotConnected

log = logging.getLogger(__name__)


class SingleReplyAction(pk_actions.Action):
    """Resolves on Asterisk's first reply, whatever its text.

    panoramisk 1.4 guesses "more messages follow" from the reply text: a Message ending in
    "successfully queued" makes it read `self['async']`, which raises KeyError for actions
    without an Async header (PlayDTMF: "DTMF successfully queued") inside data_received and
    kills the connection; with `Async: true` (Originate) it holds the future until the
    OriginateResponse (up to the ring timeout). Completing on the first reply avoids both;
    the OriginateResponse that follows is no longer matched to an action, so it reaches
    the event callbacks and thus the call's subscriber.
    """

    @property
    def multi(self) -> bool:
        return False


class ListAction(pk_actions.Action):
    """An action answered by a list (`EventList: start` ... `...Complete`), or by an error."""

    @property
    def multi(self) -> bool:
        first = self.responses[0]
        return str(first.get("EventList", "")).lower() == "start"


class NoReplayManager(Manager):
    """panoramisk Manager that never reconnects, pings or replays by itself: AmiClient does.

    One instance per TCP connection, so actions left over from a dead connection can never
    be re-sent on the next one; `send_awaiting_actions` (run on FullyBooted) drops them too.
    """

    pinger: asyncio.Handle | None  # set by panoramisk's Manager

    def __init__(self, on_lost: Callable[[object], None], **config: Any) -> None:
        super().__init__(**config)
        self._on_lost = on_lost

    def connection_made(self, f: asyncio.Future[Any]) -> None:
        if f.cancelled() or f.exception() is not None:
            return  # AmiClient awaits the same future and owns the retry
        super().connection_made(f)

    def connection_lost(self, exc: object) -> None:
        self._connected = False
        if self.pinger:
            self.pinger.cancel()
            self.pinger = None
        self._on_lost(exc)

    def ping(self) -> None:
        """Disabled: AmiClient's watchdog pings and checks that a Pong comes back."""

    def send_awaiting_actions(self, *_: object) -> None:
        if self.awaiting_actions:
            log.warning("dropping %d unanswered AMI actions", len(self.awaiting_actions))
        self.awaiting_actions.clear()


def new_manager(
    on_lost: Callable[[object], None],
    on_event: Callable[[Manager, Message], None],
    on_booted: Callable[[], None],
    *,
    host: str,
    port: int,
    username: str,
    secret: str,
) -> NoReplayManager:
    """One connection's Manager: every event to `on_event`, FullyBooted to `on_booted`."""
    manager = NoReplayManager(
        on_lost,
        host=host,
        port=port,
        username=username,
        secret=secret,
        events="on",
        loop=asyncio.get_running_loop(),
        log=panoramisk_log,
        forgetable_actions=("ping", "login"),
    )
    manager.register_event("*", on_event)
    manager.register_event("FullyBooted", lambda *_: on_booted())
    return manager


async def log_in(
    manager: NoReplayManager,
    lost: asyncio.Future[str],
    *,
    username: str,
    connect_timeout: float,
    login_timeout: float,
) -> None:
    """Connect and log in; AmiNotConnected or AmiLoginFailed say what went wrong.

    `lost` resolves when the socket closes: a login reply that never comes is then
    reported with the reason instead of after the whole timeout.
    """
    await asyncio.wait_for(manager.connect(), connect_timeout)
    login = manager.authenticated_future
    if login is None:
        raise AmiNotConnected("AMI connection closed before login")
    await asyncio.wait({login, lost}, timeout=login_timeout, return_when=asyncio.FIRST_COMPLETED)
    if not login.done():
        raise AmiNotConnected(
            f"AMI login got no reply ({lost.result() if lost.done() else 'timeout'})"
        )
    reply = login.result()
    if not reply.success:
        raise AmiLoginFailed(f"AMI login refused for user {username!r}: {reply.message}")


class RedactSecrets(logging.Filter):
    """panoramisk may log a whole action (e.g. 'Fail to send <Login ...>'): hide Secret."""

    _SECRET = re.compile(r"(secret['\"]?\s*[:=,]\s*['\"]?)[^'\"\s,}]+", re.IGNORECASE)

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        redacted = self._SECRET.sub(r"\1***", text)
        if redacted != text:
            record.msg, record.args = redacted, None
        return True


# Under "panoramisk" so configure_logging's level for that library applies (its DEBUG lines
# carry whole events, with caller numbers).
panoramisk_log = logging.getLogger("panoramisk.opendeep")
panoramisk_log.addFilter(RedactSecrets())
