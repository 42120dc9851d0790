"""Owned, named asyncio tasks: every background task has an owner that cancels it on stop.

Why: a bare `create_task` can be garbage-collected mid-flight, hides its exception until
shutdown, and outlives the call it served. `TaskOwner` keeps strong references, logs a
failure the moment it happens, and `aclose()` cancels what is left within a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


class TaskOwner:
    def __init__(self, name: str) -> None:
        self.name = name
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    def spawn(self, coro: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        if self._closed:
            coro.close()
            raise RuntimeError(f"{self.name} is closed; cannot start {name}")
        task = asyncio.get_running_loop().create_task(coro, name=f"{self.name}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._on_done)
        return task

    def _on_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("task %s failed", task.get_name(), exc_info=task.exception())

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def running(self) -> int:
        return len(self._tasks)

    async def aclose(self, timeout: float = 5.0) -> int:
        """Cancel every task and wait up to `timeout`; returns how many had to be cancelled."""
        self._closed = True
        pending = [t for t in self._tasks if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            _done, still = await asyncio.wait(pending, timeout=timeout)
            for task in still:
                log.warning("task %s did not stop within %.1fs", task.get_name(), timeout)
        return len(pending)


async def cancel_and_wait(*tasks: asyncio.Task[Any] | None, timeout: float = 5.0) -> None:
    """Cancel tasks we no longer care about and wait for them, without swallowing our own cancel."""
    live = [t for t in tasks if t is not None and not t.done()]
    for task in live:
        task.cancel()
    if live:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait(live, timeout=timeout)
