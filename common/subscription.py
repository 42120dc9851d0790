"""One subscription's messages as an async iterator, whatever transport fills it.

Malformed messages are logged (by channel and field locations, never their content) and
dropped; they never end a subscription, because a subscription's end ends the call's
command loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger("common.command_bus")  # part of the bus, for log filters


class Subscription(Generic[T]):
    """Messages of one channel as an async iterator; ends when it is left or the bus closes."""

    def __init__(self, channel: str, decode: Callable[[bytes], T]) -> None:
        self.channel = channel
        self._decode = decode
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()

    def deliver(self, data: bytes) -> None:
        self._queue.put_nowait(data)

    def end(self) -> None:
        self._queue.put_nowait(None)

    def __aiter__(self) -> Subscription[T]:
        return self

    async def __anext__(self) -> T:
        while True:
            data = await self._queue.get()
            if data is None:
                self._queue.put_nowait(None)  # later reads end too
                raise StopAsyncIteration
            try:
                return self._decode(data)
            except ValueError as exc:
                log.warning(
                    "dropped a malformed bus message",
                    extra={"channel": self.channel, "error": str(exc)},
                )
