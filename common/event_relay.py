"""Live events that must wait for a commit: queued by the database layer, announced here.

Why: a task's status change is written in the writer's transaction (its task_events
row), and the person's pages must hear of it only once that transaction has committed,
never for a change that rolled back. The session factory hands each committed
transaction's events to `put` (a plain call, from SQLAlchemy's after-commit hook); one
owned asyncio task announces them in order through `announce()` (best effort, bounded).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from common.announce import announce
from common.command_bus import CommandBus
from common.events import LiveEvent
from common.owned_tasks import TaskOwner

log = logging.getLogger(__name__)
MAX_QUEUED = 10_000  # beyond this, events are dropped (the rows stay the record)
STOP_GRACE = 2.0


class EventRelay:
    def __init__(self) -> None:
        self._queue: asyncio.Queue[tuple[int, LiveEvent]] = asyncio.Queue(MAX_QUEUED)
        self._owner = TaskOwner("event-relay")
        self._bus: CommandBus | None = None
        self.dropped = 0

    def put(self, events: Sequence[tuple[int, LiveEvent]]) -> None:
        """(user_id, event) pairs of one committed transaction; never blocks or raises."""
        for item in events:
            try:
                self._queue.put_nowait(item)
            except asyncio.QueueFull:
                self.dropped += 1

    async def start(self, bus: CommandBus | None) -> None:
        self._bus = bus
        self._owner = TaskOwner("event-relay")
        self._owner.spawn(self._run(), "announce")

    async def stop(self) -> None:
        """Announce what is queued (within STOP_GRACE), then stop."""
        try:
            async with asyncio.timeout(STOP_GRACE):
                await self._queue.join()
        except TimeoutError:
            log.warning("live events not announced at stop", extra={"left": self._queue.qsize()})
        await self._owner.aclose()

    async def _run(self) -> None:
        while True:
            user_id, event = await self._queue.get()
            try:
                await announce(self._bus, user_id, event)
            finally:
                self._queue.task_done()
