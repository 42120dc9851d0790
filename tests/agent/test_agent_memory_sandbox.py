"""Retries that remember, end to end: the second call to a callee knows what the first learned.

The whole platform (scheduler, analyzer, the agent) against the sandbox and the strict fake
model. Attempt 1 ends with the callee asking for a call back; the analyzer writes the
task's history; attempt 2's `session.update`, as the fake model receives it, carries
attempt 1's summary, its facts, the attempt number and the campaign's goal.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from database.models import Task
from database.repositories import campaigns, tasks
from database.states import TaskActor, TaskStatus
from tests.agent.conftest import AgentStack, agent_stack
from tests.realtime.conftest import ulaw_tone
from tests.support import sandbox as sb
from tests.support.fake_realtime import CallFunction, FakeRealtimeServer, Response, Say, Script
from tests.support.platform_settings import ALWAYS
from tests.support.sandbox import Sandbox

pytestmark = pytest.mark.sandbox

SUMMARY = "Reception said Dr. Smith has openings on Tuesday; call back after 3 pm."


def script() -> Script:
    first = [
        Say(ulaw_tone(300), "Hello, I am an AI assistant calling about a cleaning."),
        CallFunction("record_fact", {"key": "doctor", "value": "Dr. Smith"}),
        CallFunction("end_call", {"outcome": "callback_requested", "summary": SUMMARY}),
    ]
    second = [
        Say(ulaw_tone(300), "Hello again, about Tuesday with Dr. Smith."),
        CallFunction("end_call", {"outcome": "success", "summary": "Booked Tuesday 3 pm."}),
    ]
    return Script([Response(first), Response(second)])


async def task_row(stack: AgentStack, task_id: int) -> Task:
    async with stack.sessions() as s:
        row = await tasks.get(s, user_id=stack.user_id, task_id=task_id)
    assert row is not None
    return row


async def wait_for(
    stack: AgentStack, task_id: int, status: TaskStatus, timeout: float = 30
) -> Task:
    async with asyncio.timeout(timeout):
        while (row := await task_row(stack, task_id)).status != status:  # noqa: ASYNC110 - polling a row
            await asyncio.sleep(0.2)
    return row


async def test_attempt_two_is_told_what_attempt_one_learned(
    asterisk_sandbox: Sandbox, tmp_path: Path
) -> None:
    number = "+" + asterisk_sandbox.number(sb.SILENT, Sandbox.new_token())
    async with (
        FakeRealtimeServer(script(), vad_threshold=1e9) as fake,
        agent_stack(
            asterisk_sandbox, tmp_path, fake, task_engine=True, calling=ALWAYS,
            scheduler_poll=0.2,
        ) as stack,
    ):  # fmt: skip
        async with stack.sessions() as s, s.begin():
            campaign = await campaigns.create(
                s, user_id=stack.user_id, name="cleaning", goal="a cleaning next week"
            )
            [task] = await tasks.create_many(s, user_id=stack.user_id, campaign_id=campaign.id,
                tasks=[tasks.NewTask(phone_number=number, objective="Book a cleaning",
                                     contact_name="Bright Smiles", max_attempts=2)])  # fmt: skip
        first = await wait_for(stack, task.id, TaskStatus.RETRY_SCHEDULED)
        assert first.attempt_count == 1
        async with stack.sessions() as s, s.begin():  # time passes: the retry is due now
            await tasks.update_status(
                s, user_id=stack.user_id, task_id=task.id, expected_version=first.version,
                status=TaskStatus.RETRY_SCHEDULED, actor=TaskActor.SYSTEM,
                next_action_time=datetime.now(UTC),
            )  # fmt: skip
        await wait_for(stack, task.id, TaskStatus.SUCCEEDED)

    updates = fake.received("session.update")
    assert len(updates) == 2
    first_told = updates[0].event["session"]["instructions"]
    second_told = updates[1].event["session"]["instructions"]
    assert SUMMARY not in first_told
    assert "This is call" not in first_told
    for part in (
        f"Call 1: the callee asked to be called back. {SUMMARY}",
        "Learned then: doctor: Dr. Smith",
        "This is call 2 of at most 2 for this.",
        "It is part of a larger goal: a cleaning next week",
        "You are calling: Bright Smiles.",
    ):
        assert part in second_told, part


async def test_a_callback_the_callee_asks_for_sets_the_next_attempt(
    asterisk_sandbox: Sandbox, tmp_path: Path
) -> None:
    """The agent passes the callee-local time; the next attempt is that moment in the
    callee's zone (the one the agent was told)."""
    number = "+" + asterisk_sandbox.number(sb.SILENT, Sandbox.new_token())
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date()
    asked = f"{tomorrow.isoformat()}T15:00"
    steps = [
        Say(ulaw_tone(300), "Of course, I will call back tomorrow after three."),
        CallFunction("schedule_callback", {"when": asked}),
        CallFunction("end_call", {"outcome": "callback_requested", "summary": "After 3 pm."}),
    ]
    async with (
        FakeRealtimeServer(Script([Response(steps)]), vad_threshold=1e9) as fake,
        agent_stack(
            asterisk_sandbox, tmp_path, fake, task_engine=True, calling=ALWAYS,
            scheduler_poll=0.2,
        ) as stack,
    ):  # fmt: skip
        async with stack.sessions() as s, s.begin():
            [task] = await tasks.create_many(s, user_id=stack.user_id, campaign_id=None,
                tasks=[tasks.NewTask(phone_number=number, objective="Book a cleaning",
                                     max_attempts=2)])  # fmt: skip
        row = await wait_for(stack, task.id, TaskStatus.RETRY_SCHEDULED)
    told = fake.received("session.update")[0].event["session"]["instructions"]
    # The agent knew the callee's local time, in the zone the platform gives the number: the
    # person's (UTC) when the random sandbox number has none, but a token's digits can make
    # it a real country's number (+20 8... is Egypt), and then that country's zone.
    local = re.search(r"The callee's local time is [^(]*\(([^)]+)\)\.", told)
    assert local is not None, told
    zone = ZoneInfo(local.group(1))
    expected = datetime.combine(tomorrow, time(15, 0), tzinfo=zone).astimezone(UTC)
    assert row.next_action_time == expected
    assert row.inter_call_context["history"][-1]["callback"] == asked
