"""A call's AMI event queue: an event is never lost to a cancelled wait.

The call handler races its next AMI event against the end of the call's audio and cancels
the wait when the audio ends first; the Hangup that arrives in that same moment must still
be read afterwards (with `wait_for` on Python 3.11 it was swallowed, and the call was stored
without its hangup cause: CI, tests/calls/test_call_initiator_sandbox.py).
"""

from __future__ import annotations

import asyncio

import pytest

from call_processor.ami.call_events import CallEvents
from call_processor.ami.events import Hangup

HANGUP = Hangup(uniqueid="1.1", channel="PJSIP/x-1", cause=16, cause_txt="Normal Clearing")


async def test_a_wait_cancelled_as_its_event_arrives_leaves_the_event_queued() -> None:
    events = CallEvents("call-1")
    waiting = asyncio.create_task(events.get(10.0))
    await asyncio.sleep(0)  # the wait is parked in the queue
    events.put(HANGUP)  # arrives...
    waiting.cancel()  # ...in the same moment the handler gives up on it
    await asyncio.wait([waiting])
    assert waiting.cancelled()
    assert await events.get(0.1) == HANGUP
    assert events.pending == 0


async def test_a_wait_with_nothing_to_read_times_out_and_a_later_event_is_read() -> None:
    events = CallEvents("call-1")
    with pytest.raises(TimeoutError):
        await events.get(0.01)
    events.put(HANGUP)
    assert await events.get(0.01) == HANGUP
