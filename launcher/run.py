"""`main.py run`: the platform until a signal, or until a service it needs dies.

Why signals only set a flag: shutdown then runs in one place, in order (the platform's
stop steps), whatever woke it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Coroutine
from typing import Any

from common.owned_tasks import cancel_and_wait
from config import Settings
from launcher.heap import settle_heap
from launcher.platform import PlatformOverrides, build_platform
from launcher.supervisor import PARENT_ENV, role_from_env

log = logging.getLogger("opendeep")


async def run_platform(settings: Settings, overrides: PlatformOverrides | None = None) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    platform = build_platform(settings, overrides)
    try:
        await platform.start()
    except Exception as exc:
        log.error("start-up failed: %s", exc)
        await platform.stop()
        return 1
    settle_heap()  # start-up's objects leave every later collection (launcher/heap.py)
    orphaned = _watch_parent(stop)
    failed = asyncio.create_task(platform.wait_failed(), name="platform:watch")
    stopping = asyncio.create_task(stop.wait(), name="platform:signal")
    done, _ = await asyncio.wait({failed, stopping}, return_when=asyncio.FIRST_COMPLETED)
    crashed = failed in done
    await cancel_and_wait(failed, stopping, *orphaned)
    log.info("shutting down")
    await platform.stop()
    return 1 if crashed else 0


def run(settings: Settings, *, web: bool = True) -> int:
    overrides = PlatformOverrides(web=web, worker=role_from_env())
    return run_in_loop(settings, run_platform(settings, overrides))


def run_in_loop(settings: Settings, main: Coroutine[Any, Any, int]) -> int:
    """On uvloop unless EVENT_LOOP=asyncio (docs/architecture.md has the measurements)."""
    loop_factory = None
    if settings.app.event_loop == "uvloop":
        import uvloop  # a locked dependency; imported only when chosen

        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(main)


def _watch_parent(stop: asyncio.Event) -> list[asyncio.Task[None]]:
    """A worker of `run --workers N` stops once its supervisor is gone (killed with -9, it
    could not stop them): an orphan would go on placing calls nobody supervises."""
    parent = os.environ.get(PARENT_ENV)
    if not parent or not parent.isdecimal():
        return []

    async def watch() -> None:
        while os.getppid() == int(parent):  # noqa: ASYNC110 - polling the OS: no event to await
            await asyncio.sleep(1.0)
        log.error("the supervisor is gone; stopping")
        stop.set()

    return [asyncio.create_task(watch(), name="platform:parent")]
