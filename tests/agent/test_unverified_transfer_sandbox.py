"""A real call whose agent asks to hand the callee to the person, whose number was never
verified: the person's phone never rings, the tool says why, and the agent carries on to
its own goodbye (issue 13: the number is verified before it is used)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from call_processor.finished_call import EndedBy
from tests.agent.conftest import agent_stack
from tests.calls.conftest import wait_until
from tests.realtime.conftest import ulaw_tone
from tests.support import sandbox as sb
from tests.support.fake_realtime import CallFunction, FakeRealtimeServer, Response, Say, Script
from tests.support.sandbox import Sandbox

pytestmark = pytest.mark.sandbox
GOODBYE = "I cannot put you through right now. Goodbye."


async def test_an_unverified_number_is_never_rung_and_the_agent_carries_on(
    asterisk_sandbox: Sandbox, tmp_path: Path
) -> None:
    person = Sandbox.new_token()
    phone = "+" + asterisk_sandbox.number(sb.TRANSFER_TARGET, person)
    script = Script([
        Response([Say(ulaw_tone(300), "Connecting you to Dana."),
                  CallFunction("transfer_to_user")]),
        Response([Say(ulaw_tone(300), GOODBYE),
                  CallFunction("end_call", {"outcome": "failure", "summary": "no transfer"})],
                 trigger="response.create"),
    ])  # fmt: skip
    async with (
        FakeRealtimeServer(script, vad_threshold=1e9) as fake,
        agent_stack(asterisk_sandbox, tmp_path, fake, user_phone=phone) as stack,
    ):
        callee = Sandbox.new_token()
        placing = stack.place(stack.request(sb.PERSON, callee, objective="test"))
        finished = await asyncio.wait_for(placing, 30)
        await wait_until(lambda: asterisk_sandbox.far_end(callee).hangup_at is not None)
    assert not asterisk_sandbox.far_end(person).lines  # never dialed at all
    [output] = [
        json.loads(e.event["item"]["output"])
        for e in fake.received("conversation.item.create")
        if e.event["item"]["type"] == "function_call_output"
    ]
    assert output == {"error": "the person's number is not verified; carry on"}
    assert (finished.transferred, finished.ended_by) == (False, EndedBy.AGENT)
    assert finished.outcome == "failure"  # the agent's own goodbye ended it
