"""Telling a person's open pages what just happened, on a best-effort basis.

Why one helper: a live event is a courtesy, while the row written just before it is the
record. Four publishers (a call's rows, its turns, its questions, the notifier) and the
relay of committed transactions' events must never fail or stall their own work because
the bus is slow or down, so they all go through this: bounded in time, failures logged
(without the event's text) and swallowed.
"""

from __future__ import annotations

import asyncio
import logging

from common.command_bus import CommandBus
from common.events import LiveEvent

log = logging.getLogger(__name__)
ANNOUNCE_TIMEOUT = 2.0


async def announce(
    bus: CommandBus | None, user_id: int, event: LiveEvent, timeout: float = ANNOUNCE_TIMEOUT
) -> bool:
    """True when published (even to no listener); False when it could not be."""
    if bus is None:
        return False
    try:
        async with asyncio.timeout(timeout):
            await bus.publish_event(user_id, event)
    except Exception as exc:
        log.warning("live event not published", extra={"event": event.type, "error": repr(exc)})
        return False
    return True
