"""The asyncio adapter around panoramisk 1.4: one AMI connection we own end to end.

Why a wrapper: panoramisk reconnects on its own with untracked timers, re-sends unanswered
actions after a reconnect (a second Originate = a second phone call), never checks that a
Ping is answered (a half-open socket looks alive forever), schedules coroutine callbacks
untracked, and with `Async: true` holds an Originate's future until the call is answered.
Here panoramisk only frames, parses and matches replies to ActionIDs; this class owns the
connection loop, the ping watchdog, the event queue and its dispatcher task, and every
action's timeout. Nothing is ever replayed after a reconnect (see `NoReplayManager`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from panoramisk.manager import Manager
from panoramisk.message import Message
from pydantic import SecretStr

from call_processor.ami import actions as ami_actions
from call_processor.ami import events as ami_events
from call_processor.ami.call_events import CallEvents, CallRouter
from call_processor.ami.errors import (
    AmiActionFailed,
    AmiError,
    AmiNotConnected,
    AmiReplyLost,
    AmiTimeout,
)
from call_processor.ami.events import FullyBooted, UserEvent
from call_processor.ami.transport import (
    ListAction,
    NoReplayManager,
    SingleReplyAction,
    log_in,
    new_manager,
)
from common.owned_tasks import TaskOwner
from config.settings import AmiSettings

log = logging.getLogger(__name__)

StateListener = Callable[[bool], None]


class AmiClient:
    """One supervised AMI connection with typed events and timed actions.

    Subscribe to a call before originating it: events are routed by Uniqueid, which is the
    call id because Originate sets ChannelId = call id.
    """

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: SecretStr,
        *,
        ping_interval: float = 5.0,
        ping_timeout: float = 3.0,
        reconnect_max_delay: float = 2.0,
        action_timeout: float = 5.0,
        connect_timeout: float = 5.0,
        boot_timeout: float = 5.0,
    ) -> None:
        self.host, self.port, self.username = host, port, username
        self._secret = secret
        self.ping_interval, self.ping_timeout = ping_interval, ping_timeout
        self.reconnect_max_delay = reconnect_max_delay
        self.action_timeout, self.connect_timeout = action_timeout, connect_timeout
        self.boot_timeout = boot_timeout
        self._manager: NoReplayManager | None = None
        self._lost: asyncio.Future[str] | None = None
        self._booted = asyncio.Event()
        self._up = asyncio.Event()
        self._pending: set[asyncio.Future[Any]] = set()
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._calls = CallRouter()
        self._state_listeners: list[StateListener] = []
        self._tasks: TaskOwner | None = None
        self.last_error: str | None = None
        self.connections = 0  # successful logins so far (tests and metrics)

    @classmethod
    def from_settings(cls, settings: AmiSettings, **kwargs: Any) -> AmiClient:
        """Build from the AMI settings group; AMI_SECRET must be set."""
        if settings.secret is None:
            raise AmiError("AMI_SECRET is not set")
        return cls(
            settings.host,
            settings.port,
            settings.username,
            settings.secret,
            ping_interval=settings.ping_interval,
            ping_timeout=settings.ping_timeout,
            reconnect_max_delay=settings.reconnect_max_delay,
            **kwargs,
        )

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start connecting in the background; use `wait_connected` to wait for login."""
        if self._tasks is not None:
            raise RuntimeError("AmiClient already started")
        self._tasks = TaskOwner("ami")
        self._tasks.spawn(self._dispatch_loop(), "dispatch")
        self._tasks.spawn(self._connection_loop(), "connection")

    async def stop(self) -> None:
        if self._tasks is None:
            return
        await self._tasks.aclose()
        self._drop_connection("client stopped")

    aclose = stop

    async def __aenter__(self) -> AmiClient:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    @property
    def connected(self) -> bool:
        return self._up.is_set()

    async def wait_connected(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._up.wait(), timeout)
        except TimeoutError:
            reason = f": {self.last_error}" if self.last_error else ""
            raise AmiNotConnected(f"AMI not connected after {timeout:.1f}s{reason}") from None

    def add_state_listener(self, listener: StateListener) -> None:
        """`listener(connected)` on every change (metrics, health)."""
        self._state_listeners.append(listener)

    def subscribe(self, call_id: str) -> CallEvents:
        return self._calls.subscribe(call_id)

    def unsubscribe(self, call_id: str) -> None:
        self._calls.unsubscribe(call_id)

    def on_user_event(self, name: str, listener: Callable[[UserEvent], None]) -> None:
        """`listener(event)` for each dialplan UserEvent of this name (e.g. an announced
        inbound call, which no call is subscribed to yet); synchronous, like the router."""
        self._calls.listen(name, listener)

    # ------------------------------------------------------------ connection

    async def _connection_loop(self) -> None:
        delay = min(0.1, self.reconnect_max_delay)
        while True:
            try:
                await self._connect_once()
            except Exception as exc:  # the loop must outlive any one failure
                self._drop_connection(_describe(exc))
                if _describe(exc) != self.last_error:  # once per distinct error, not per retry
                    log.warning("AMI connect failed; retrying", extra={"error": _describe(exc)})
                self.last_error = _describe(exc)
            else:
                delay = min(0.1, self.reconnect_max_delay)
                self._set_up(True)
                reason = await self._watch()
                self._drop_connection(reason)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.reconnect_max_delay)

    async def _connect_once(self) -> None:
        self._lost = asyncio.get_running_loop().create_future()
        self._booted.clear()
        self._manager = manager = new_manager(
            self._on_lost,
            self._on_event,
            self._booted.set,
            host=self.host,
            port=self.port,
            username=self.username,
            secret=self._secret.get_secret_value(),
        )
        await log_in(
            manager,
            self._lost,
            username=self.username,
            connect_timeout=self.connect_timeout,
            login_timeout=self.action_timeout,
        )
        self.connections += 1
        self.last_error = None
        log.info("AMI logged in", extra={"ami_host": self.host, "ami_port": self.port})
        try:
            await asyncio.wait_for(self._booted.wait(), self.boot_timeout)
        except TimeoutError:
            log.warning("no FullyBooted after AMI login (does the user lack read=system?)")
        if self._lost.done():
            raise AmiNotConnected(self._lost.result())

    async def _watch(self) -> str:
        """Return why the connection ended: lost, or a Ping unanswered (half-open)."""
        lost = self._lost
        assert lost is not None
        while True:
            try:
                return await asyncio.wait_for(asyncio.shield(lost), self.ping_interval)
            except TimeoutError:
                pass
            try:
                await self._request(ami_actions.ping(), self.ping_timeout)
            except AmiTimeout:
                log.warning(
                    "AMI ping unanswered; reconnecting", extra={"timeout": self.ping_timeout}
                )
                return "ping timeout"
            except AmiError as exc:
                return _describe(exc)

    def _on_lost(self, exc: object) -> None:
        reason = f"connection lost: {_describe(exc)}"
        log.warning("AMI connection lost", extra={"error": _describe(exc)})
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(reason)

    def _drop_connection(self, reason: str) -> None:
        """Close the socket and fail every action still waiting on it (never re-sent)."""
        self._set_up(False)
        # Fail waiting actions first: panoramisk's close() then sees them done and
        # neither logs them nor queues them for replay.
        for future in list(self._pending):
            if not future.done():
                future.set_exception(
                    AmiNotConnected(f"AMI connection ended before the reply ({reason})")
                )
        self._pending.clear()
        manager, self._manager = self._manager, None
        if manager is not None:
            manager.close()
            manager.awaiting_actions.clear()

    def _set_up(self, up: bool) -> None:
        if up == self._up.is_set():
            return
        if up:
            self._up.set()
        else:
            self._up.clear()
        for listener in self._state_listeners:
            try:
                listener(up)
            except Exception:
                log.exception("AMI state listener failed")

    # ------------------------------------------------------------ events

    def _on_event(self, _manager: Manager, message: Message) -> None:
        """panoramisk callback; synchronous on purpose so panoramisk schedules no task."""
        self._inbox.put_nowait(message)

    async def _dispatch_loop(self) -> None:
        while True:
            message = await self._inbox.get()
            try:
                event = ami_events.parse_event(message)
            except Exception:
                log.exception("unparsable AMI event dropped")
                continue
            if event is not None and not isinstance(event, FullyBooted):
                self._calls.deliver(event)

    # ------------------------------------------------------------ actions

    async def _request(
        self, action: ami_actions.Action, timeout: float | None = None, *, as_list: bool = False
    ) -> list[Message]:
        """Send one action; return its reply (plus list events); raise AmiError otherwise."""
        manager = self._manager
        if not self.connected or manager is None or manager.protocol is None:
            raise AmiNotConnected("AMI is not connected")
        name = str(action.get("Action", "?"))
        wire = ListAction(action) if as_list else SingleReplyAction(action)
        future = manager.send_action(wire)
        self._pending.add(future)
        limit = self.action_timeout if timeout is None else timeout
        try:
            result = await asyncio.wait_for(future, limit)
        except TimeoutError:
            raise AmiTimeout(f"{name} got no reply within {limit:.1f}s") from None
        except AmiNotConnected as exc:  # sent, then the connection dropped
            raise AmiReplyLost(f"{name} was sent but its reply was lost: {exc}") from exc
        finally:
            self._pending.discard(future)
        replies = result if isinstance(result, list) else [result]
        if not replies[0].success:
            raise AmiActionFailed(name, replies[0].message)
        return replies

    async def send_action(
        self, action: ami_actions.Action, timeout: float | None = None
    ) -> Message:
        """Any single-reply action built by ami_actions (ping, setvar, ...)."""
        return (await self._request(action, timeout))[0]

    async def originate(
        self,
        call_id: str,
        channel: str,
        context: str,
        exten: str,
        priority: int | str = 1,
        timeout_ms: int = 30_000,
        caller_id: str = "",
        variables: Mapping[str, str] | None = None,
        *,
        timeout: float | None = None,
    ) -> None:
        """Queue an async Originate; return once Asterisk accepted it.

        The OriginateResponse (answered / busy / ...) arrives later on `subscribe(call_id)`.
        Never retried: on AmiNotConnected the call may or may not exist, and its
        OriginateResponse/Hangup still reach the subscriber after a reconnect (Asterisk
        broadcasts them to every AMI session).
        """
        action = ami_actions.originate(
            call_id, channel, context, exten, priority, timeout_ms, caller_id, variables
        )
        await self._request(action, timeout)

    async def hangup(self, channel: str, cause: int = 16, timeout: float | None = None) -> None:
        await self._request(ami_actions.hangup(channel, cause), timeout)

    async def play_dtmf(
        self, channel: str, digits: str, gap_ms: int = 100, duration_ms: int = 250
    ) -> None:
        """Send a digit string one PlayDTMF at a time; 'w' pauses 500 ms (as SendDTMF)."""
        planned = [d for d in digits if d not in " -"]
        for digit in planned:  # validate everything before sending anything
            if digit not in "wW":
                ami_actions.play_dtmf(channel, digit, duration_ms)
        for digit in planned:
            if digit in "wW":
                await asyncio.sleep(0.5)
                continue
            await self._request(ami_actions.play_dtmf(channel, digit, duration_ms))
            await asyncio.sleep((duration_ms + gap_ms) / 1000)

    async def redirect(
        self, channel: str, context: str, exten: str, priority: int | str = 1
    ) -> None:
        await self._request(ami_actions.redirect(channel, context, exten, priority))

    async def getvar(self, channel: str, variable: str) -> str | None:
        reply = (await self._request(ami_actions.getvar(channel, variable)))[0]
        value = reply.get("Value")
        return value or None

    async def setvar(self, channel: str | None, variable: str, value: str) -> None:
        """Set a channel variable, or a global one when `channel` is None."""
        await self._request(ami_actions.setvar(channel, variable, value))

    async def ping(self, timeout: float | None = None) -> None:
        await self._request(ami_actions.ping(), timeout)

    async def list_channels(self, timeout: float | None = None) -> list[dict[str, str]]:
        """One dict per live channel (Channel, Uniqueid, ChannelState, Exten, ...).

        Uses `Status`, allowed with write=call; CoreShowChannels needs system/reporting.
        """
        return await self._listing(ami_actions.status(), "status", timeout)

    async def core_show_channels(self, timeout: float | None = None) -> list[dict[str, str]]:
        """Like list_channels, for an AMI user with write=reporting (or system)."""
        return await self._listing(ami_actions.core_show_channels(), "coreshowchannel", timeout)

    async def _listing(
        self, action: ami_actions.Action, item_event: str, timeout: float | None
    ) -> list[dict[str, str]]:
        replies = await self._request(action, timeout, as_list=True)
        return [
            {k: str(v) for k, v in reply.items()}
            for reply in replies[1:]
            if str(reply.get("Event", "")).lower() == item_event
        ]


def _describe(exc: object) -> str:
    if isinstance(exc, BaseException):
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return str(exc) if exc is not None else "closed by peer"
