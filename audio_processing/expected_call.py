"""Calls that may attach to the AudioSocket server, before and after they attach.

Why a handle apart from the server: the call attempt waits on it (`connected()`, `ended()`)
without reaching into the server, and the server settles it exactly once, also when
Asterisk never connects (forgotten, or the server stopping).

Why the registry holds unknown ids for a moment: a call we originated is registered before
Originate, so its UUID is always known when Asterisk connects. An inbound call's id is
announced by a UserEvent on AMI, and that announcement and the AudioSocket connection
arrive in either order within about a millisecond (docs/protocols.md, Passing the caller to
AudioSocket). So with `hold` > 0 a connection naming an unknown id waits up to `hold`
seconds for its registration, and is refused after that; at most `max_held` wait at once,
so a flood of unknown ids is refused at once and never ties up the server.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

from audio_processing.call_audio import CallAudio, CallMetadata, CallTalker, EndReason


class AttachRefused(Exception):
    """A connection's call id may not attach; the message is the logged reason."""


class ExpectedCall:
    """The initiator's handle on a registered call: await `connected()` and `ended()`."""

    def __init__(self, metadata: CallMetadata, talker: CallTalker) -> None:
        self.metadata = metadata
        self.talker = talker
        self.audio: CallAudio | None = None
        self.end_reason: EndReason | None = None
        self._settled = asyncio.Event()
        self._ended = asyncio.Event()

    @property
    def call_id(self) -> str:
        return self.metadata.call_id

    @property
    def attached(self) -> bool:
        return self.audio is not None

    async def connected(self) -> bool:
        """True once Asterisk attached; False if the call ended without ever attaching."""
        await self._settled.wait()
        return self.audio is not None

    async def ended(self) -> EndReason:
        await self._ended.wait()
        assert self.end_reason is not None
        return self.end_reason

    def _attach(self, audio: CallAudio) -> None:
        """Called by AudioSocketServer when Asterisk's UUID frame names this call."""
        self.audio = audio
        self._settled.set()

    def _finish(self, reason: EndReason) -> None:
        """Called by AudioSocketServer; the first reason wins, later ones are ignored."""
        if self.end_reason is None:
            self.end_reason = reason
        self._settled.set()
        self._ended.set()


def canonical(call_id: str | uuid.UUID) -> str:
    """The one spelling of a call id (lower-case, hyphenated); ValueError if not a UUID."""
    return str(call_id if isinstance(call_id, uuid.UUID) else uuid.UUID(call_id))


class ExpectedCalls:
    """The calls that may attach, by canonical id; `claim` hands one to a new connection."""

    def __init__(self, *, hold: float = 0.0, max_held: int = 16) -> None:
        self.hold = hold
        self.max_held = max_held
        self._calls: dict[str, ExpectedCall] = {}
        self._waiting: dict[str, asyncio.Future[ExpectedCall]] = {}

    def __iter__(self) -> Iterator[ExpectedCall]:
        return iter(list(self._calls.values()))

    def add(self, expected: ExpectedCall) -> None:
        """Register a call; a connection already waiting for this id attaches at once."""
        key = canonical(expected.call_id)
        if key in self._calls:
            raise ValueError("this call id is already expected")
        self._calls[key] = expected
        waiting = self._waiting.pop(key, None)
        if waiting is not None and not waiting.done():
            waiting.set_result(expected)

    def get(self, call_id: str | uuid.UUID) -> ExpectedCall | None:
        return self._calls.get(canonical(call_id))

    def remove(self, expected: ExpectedCall) -> None:
        key = canonical(expected.call_id)
        if self._calls.get(key) is expected:
            del self._calls[key]

    def refuse_held(self, reason: str) -> None:
        """End every wait now (the server is stopping)."""
        for waiting in self._waiting.values():
            if not waiting.done():
                waiting.set_exception(AttachRefused(reason))

    async def claim(self, call_id: uuid.UUID) -> ExpectedCall:
        """The registered, not yet attached call with this id, waiting up to `hold` for
        its registration; AttachRefused when there is none (or it already attached)."""
        key = canonical(call_id)
        expected = self._calls.get(key) or await self._wait_for(key)
        if expected.attached:
            raise AttachRefused("already_attached")
        return expected

    async def _wait_for(self, key: str) -> ExpectedCall:
        if self.hold <= 0:
            raise AttachRefused("unknown_call_id")
        if key in self._waiting:
            raise AttachRefused("already_waiting")
        if len(self._waiting) >= self.max_held:
            raise AttachRefused("too_many_unannounced")
        waiting: asyncio.Future[ExpectedCall] = asyncio.get_running_loop().create_future()
        self._waiting[key] = waiting
        try:
            async with asyncio.timeout(self.hold):
                return await waiting
        except TimeoutError:
            raise AttachRefused("unannounced_call_id") from None
        finally:
            if self._waiting.get(key) is waiting:
                del self._waiting[key]
