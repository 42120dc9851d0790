"""Opening and configuring one OpenAI Realtime (GA) session through the official SDK.

Why a separate step: connecting and sending `session.update` takes a few hundred
milliseconds; the call initiator does it while the phone rings (`prewarm()`), so the agent
can greet the moment the callee answers. If nobody answers, `aclose()` ends it. Only
`client.realtime.connect` is used: the retired beta interface (its opt-in header) is
rejected by the service (docs/protocols.md, Connecting: GA only). No automatic reconnect: a
new socket is a new session without the conversation, so a failure ends the call instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, cast

from openai import AsyncOpenAI
from openai.resources.realtime.realtime import AsyncRealtimeConnection
from openai.types.realtime import ConversationItemParam
from openai.types.realtime.session_update_event_param import Session
from openai.types.websocket_connection_options import WebSocketConnectionOptions

from audio_processing.realtime.events import ErrorEvent, SessionUpdated, parse_server_event
from common.owned_tasks import TaskOwner

log = logging.getLogger(__name__)

# No permessage-deflate on the model's socket, whatever a server offers: audio hardly
# compresses, and zlib costs CPU on every message and memory for its state per connection.
# (This SDK already leaves it off while max_size is unlimited; said here so an SDK change
# cannot turn it on. The benchmark's fake model refuses deflate, so the benchmark does
# not show the saving.)
_WS: WebSocketConnectionOptions = {"compression": None}


class RealtimeSessionError(Exception):
    """The session could not be opened or configured; `code` says why (for the call row)."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code


def sdk_session(config: dict[str, Any]) -> Session:
    """The session config typed as the SDK's. Why a cast: realtime_session_config builds
    it as a plain dict (a pure module, no SDK import); the strict local Realtime server
    checks its shape in the tests."""
    return cast("Session", config)


def sdk_item(item: dict[str, Any]) -> ConversationItemParam:
    """A conversation item typed as the SDK's (built as a dict by realtime_events)."""
    return cast("ConversationItemParam", item)


class RealtimeSession:
    """One model session for one call: `open()` (or `prewarm()` + `ready()`), then `aclose()`."""

    def __init__(
        self,
        client: AsyncOpenAI,
        session_config: dict[str, Any],
        *,
        name: str = "realtime",
        connect_timeout: float = 10.0,
        configure_timeout: float = 10.0,
        close_timeout: float = 2.0,
    ) -> None:
        if session_config.get("type") != "realtime" or not session_config.get("model"):
            raise ValueError("session_config must be a GA session with type 'realtime' and a model")
        self.client = client
        self.config = session_config
        self.name = name
        self._connect_timeout = connect_timeout
        self._configure_timeout = configure_timeout
        self._close_timeout = close_timeout
        self._conn: AsyncRealtimeConnection | None = None
        self._opening: asyncio.Task[AsyncRealtimeConnection] | None = None
        self._tasks = TaskOwner(name)
        self._closed = False

    @property
    def model(self) -> str:
        return str(self.config["model"])

    @property
    def connection(self) -> AsyncRealtimeConnection:
        if self._conn is None:
            raise RuntimeError("the realtime session is not open")
        return self._conn

    def prewarm(self) -> None:
        """Start opening in the background (while the phone rings); `ready()` collects it."""
        if self._opening is None and self._conn is None:
            self._opening = self._tasks.spawn(self._open(), name="open")

    async def ready(self) -> AsyncRealtimeConnection:
        """The configured connection, opening it now if `prewarm()` was not called."""
        if self._conn is not None:
            return self._conn
        self.prewarm()
        assert self._opening is not None
        return await asyncio.shield(self._opening)

    async def open(self) -> AsyncRealtimeConnection:
        return await self.ready()

    async def _open(self) -> AsyncRealtimeConnection:
        if self._closed:
            raise RealtimeSessionError("closed", "the session was closed before it opened")
        manager = self.client.realtime.connect(model=self.model, websocket_connection_options=_WS)
        try:
            async with asyncio.timeout(self._connect_timeout):
                conn = await manager.enter()
        except TimeoutError as exc:
            raise RealtimeSessionError("connect_timeout") from exc
        except Exception as exc:
            raise RealtimeSessionError("connect_failed", type(exc).__name__) from exc
        try:
            await self._configure(conn)
        except BaseException:
            await self._close_quietly(conn)
            raise
        self._conn = conn
        log.info("realtime session ready", extra={"model": self.model})
        return conn

    async def _configure(self, conn: AsyncRealtimeConnection) -> None:
        """Send session.update and read until session.updated (session.created comes first)."""
        await conn.session.update(session=sdk_session(self.config))
        try:
            async with asyncio.timeout(self._configure_timeout):
                while True:
                    event = parse_server_event(await conn.recv_bytes())
                    if isinstance(event, SessionUpdated):
                        return
                    if isinstance(event, ErrorEvent):
                        raise RealtimeSessionError(event.code, event.message)
        except TimeoutError as exc:
            raise RealtimeSessionError("configure_timeout") from exc
        except RealtimeSessionError:
            raise
        except Exception as exc:
            raise RealtimeSessionError("configure_failed", type(exc).__name__) from exc

    async def _close_quietly(self, conn: AsyncRealtimeConnection) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self._close_timeout):
                await conn.close()

    async def aclose(self) -> None:
        """Close the socket (or abandon the opening). Safe to call more than once."""
        self._closed = True
        await self._tasks.aclose(timeout=self._close_timeout)
        conn, self._conn = self._conn, None  # set only once fully opened
        if conn is not None:
            await self._close_quietly(conn)
