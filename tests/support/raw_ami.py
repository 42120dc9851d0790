"""A tiny raw asyncio AMI client for tests only (product code uses panoramisk).

Why a separate one: tests of the sandbox and of our panoramisk adapter need a client whose
every byte is visible and that shares no code with the thing under test. It keeps every
event it has seen, so a test can wait for an event that arrived before it started waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable, Mapping, Sequence

from common.owned_tasks import TaskOwner
from common.stream_server import close_writer

AmiMessage = dict[str, str]
FieldValue = str | int | Sequence[str]
EventPredicate = Callable[[AmiMessage], bool]


class AmiError(RuntimeError):
    """An action answered `Response: Error`, or the connection ended."""


def encode_action(name: str, action_id: str, fields: Mapping[str, FieldValue]) -> bytes:
    """One AMI action; a sequence value repeats its header (Variable: a=1, Variable: b=2)."""
    lines = [f"Action: {name}", f"ActionID: {action_id}"]
    for key, value in fields.items():
        values = [value] if isinstance(value, str | int) else list(value)
        lines.extend(f"{key}: {v}" for v in values)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def decode_message(block: str) -> AmiMessage:
    """`Key: Value` lines to a dict; repeated keys keep the last value (enough for tests)."""
    message: AmiMessage = {}
    for line in block.split("\r\n"):
        key, sep, value = line.partition(":")
        if sep:
            message[key.strip()] = value.strip()
    return message


class RawAmi:
    """One AMI connection: `connect`, `login`, `action`, `wait_event`, `aclose`."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, banner: str):
        self.banner = banner
        self.events: list[AmiMessage] = []
        self._reader = reader
        self._writer = writer
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future[AmiMessage]] = {}
        self._changed = asyncio.Condition()
        self._closed_reason: str | None = None
        self._tasks = TaskOwner("raw-ami")
        self._tasks.spawn(self._read_loop(), "reader")

    @classmethod
    async def connect(cls, host: str, port: int, timeout: float = 5.0) -> RawAmi:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
            banner = (await reader.readline()).decode().strip()
        if not banner.startswith("Asterisk Call Manager/"):
            writer.close()
            raise AmiError(f"not an AMI server (banner {banner!r})")
        return cls(reader, writer, banner)

    async def login(self, username: str, secret: str, timeout: float = 5.0) -> AmiMessage:
        return await self.action(
            "Login", {"Username": username, "Secret": secret, "Events": "on"}, timeout=timeout
        )

    async def action(
        self,
        name: str,
        fields: Mapping[str, FieldValue] | None = None,
        *,
        action_id: str | None = None,
        timeout: float = 5.0,
    ) -> AmiMessage:
        """Send an action and return its response; raise AmiError on `Response: Error`."""
        action_id = action_id or f"raw-{next(self._ids)}"
        future: asyncio.Future[AmiMessage] = asyncio.get_running_loop().create_future()
        self._pending[action_id] = future
        try:
            self._writer.write(encode_action(name, action_id, fields or {}))
            async with asyncio.timeout(timeout):
                await self._writer.drain()
                response = await future
        finally:
            self._pending.pop(action_id, None)
        if response.get("Response") == "Error":
            raise AmiError(f"{name} failed: {response.get('Message', '')}")
        return response

    async def wait_event(self, predicate: EventPredicate, timeout: float = 10.0) -> AmiMessage:
        """The first event so far (or to come) that matches; events are never consumed."""
        async with asyncio.timeout(timeout), self._changed:
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                if self._closed_reason is not None:
                    raise AmiError(f"connection ended: {self._closed_reason}")
                await self._changed.wait()

    def events_where(self, predicate: EventPredicate) -> list[AmiMessage]:
        return [event for event in self.events if predicate(event)]

    async def aclose(self) -> None:
        with contextlib.suppress(AmiError, TimeoutError, OSError):
            if self._closed_reason is None:
                await self.action("Logoff", timeout=2.0)
        await self._tasks.aclose(timeout=2.0)
        await close_writer(self._writer)

    async def _read_loop(self) -> None:
        try:
            while True:
                block = await self._reader.readuntil(b"\r\n\r\n")
                await self._dispatch(decode_message(block.decode(errors="replace")))
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            await self._close(type(exc).__name__)
        except asyncio.CancelledError:
            await self._close("closed")
            raise

    async def _dispatch(self, message: AmiMessage) -> None:
        if "Event" in message:
            async with self._changed:
                self.events.append(message)
                self._changed.notify_all()
            return
        future = self._pending.get(message.get("ActionID", ""))
        if future is not None and not future.done():
            future.set_result(message)

    async def _close(self, reason: str) -> None:
        self._closed_reason = reason
        for future in self._pending.values():
            if not future.done():
                future.set_exception(AmiError(f"connection ended: {reason}"))
        async with self._changed:
            self._changed.notify_all()


def event_is(name: str, **headers: str) -> EventPredicate:
    """Predicate: `Event: name` with every given header equal (ActionID="x", Uniqueid="y")."""

    def matches(event: AmiMessage) -> bool:
        return event.get("Event") == name and all(event.get(k) == v for k, v in headers.items())

    return matches


def variables(pairs: Mapping[str, str]) -> list[str]:
    """Originate `Variable:` headers, one per pair (values must not contain commas)."""
    return [f"{key}={value}" for key, value in pairs.items()]
