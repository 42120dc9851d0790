"""A separate process that takes one Redis call slot and keeps its lease alive until killed.

Used by tests/test_call_slots.py to play a node that dies without releasing its slot.
Usage: python -m tests.support.call_slots_holder REDIS_URL NAME LEASE_SECONDS CALL_ID
"""

from __future__ import annotations

import asyncio
import sys

from call_processor.call_slots import RedisCallSlots


async def hold(redis_url: str, name: str, lease_seconds: float, call_id: str) -> None:
    slots = RedisCallSlots(redis_url, 1, "holder", lease_seconds, name=name)
    await slots.start()
    await slots.acquire(call_id, timeout=5.0)
    print("held", flush=True)
    await asyncio.Event().wait()  # until SIGKILL: no cleanup, like a crashed process


if __name__ == "__main__":
    url, slot_name, lease, held_id = sys.argv[1:5]
    asyncio.run(hold(url, slot_name, float(lease), held_id))
