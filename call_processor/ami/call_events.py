"""One call's AMI events, queued in arrival order for the call's own handler, and the
router that hands each event to the call it belongs to.

Why a queue per call: AmiClient's dispatcher must never block on a slow call, and a call
handler reads its events at its own pace (iterate, or `get(timeout)` with a deadline).
A dialplan UserEvent that announces something no call is subscribed to yet (an inbound
call) goes to the listener registered for its name instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

from call_processor.ami.events import AmiEvent, UserEvent, routing_keys

log = logging.getLogger(__name__)


class CallEvents:
    """Events of one call, in arrival order. Iterate, or `get(timeout)`."""

    def __init__(self, call_id: str) -> None:
        self.call_id = call_id
        self._queue: asyncio.Queue[AmiEvent] = asyncio.Queue()

    def put(self, event: AmiEvent) -> None:
        self._queue.put_nowait(event)

    @property
    def pending(self) -> int:
        """Events delivered but not read yet."""
        return self._queue.qsize()

    async def get(self, timeout: float) -> AmiEvent:
        """The next event; TimeoutError after `timeout` seconds.

        Why not `wait_for`: on Python 3.11 a `wait_for(queue.get())` cancelled just as its
        event arrives returns the event instead of raising, and a caller that cancelled it
        (the call ending on its audio, racing its next AMI event) never sees it: a Hangup
        lost that way left the call without its hangup cause. Under `asyncio.timeout` a
        cancel lands in the queue's own wait, which leaves the event queued.
        """
        async with asyncio.timeout(timeout):
            return await self._queue.get()

    def __aiter__(self) -> AsyncIterator[AmiEvent]:
        return self

    async def __anext__(self) -> AmiEvent:
        return await self._queue.get()


class CallRouter:
    """Each event to the call subscribed under one of its routing keys; others are dropped
    (the far leg of a loopback call, calls of other processes)."""

    def __init__(self) -> None:
        self._calls: dict[str, CallEvents] = {}
        self._listeners: dict[str, Callable[[UserEvent], None]] = {}

    def listen(self, name: str, listener: Callable[[UserEvent], None]) -> None:
        """UserEvents of this name (any case) go to `listener`, not to a call."""
        self._listeners[name.lower()] = listener

    def subscribe(self, call_id: str) -> CallEvents:
        events = CallEvents(call_id)
        self._calls[call_id] = events
        return events

    def unsubscribe(self, call_id: str) -> None:
        self._calls.pop(call_id, None)

    def deliver(self, event: AmiEvent) -> None:
        if isinstance(event, UserEvent) and event.name.lower() in self._listeners:
            try:
                self._listeners[event.name.lower()](event)
            except Exception:  # a listener's bug must not stop the dispatcher
                log.exception("AMI UserEvent listener failed", extra={"event": event.name})
            return
        for key in routing_keys(event):
            subscriber = self._calls.get(key)
            if subscriber is not None:
                subscriber.put(event)
                return
