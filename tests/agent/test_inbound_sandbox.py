"""Inbound calls through the production [opendeep-inbound] route of the real sandbox.

A carrier's call is played by the sandbox's `7<DID>` far end (tests/support/inbound.py):
it enters [opendeep-inbound] with the caller id the test chose, the dialplan announces it
on AMI and connects AudioSocket to OPENDEEP_AUDIOSOCKET, which the platform under test set
at login. The agent is the production AgentTalkerFactory reaching the strict fake model;
what it was told is the `session.update` the fake received.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from call_processor.inbound_calls import ROUTE_VARIABLE
from call_processor.message_talker import message_instructions
from common.commands import Hangup
from config.settings import InboundSettings
from database.models import Call, CallTurn, Task
from database.profile import Profile
from database.repositories import calls, tasks, turns, users
from database.states import CallDirection, CallStatus, TaskStatus
from launcher.openai_clients import OpenAIClients, chat_client, realtime_client
from tests.agent.conftest import AgentStack, agent_stack
from tests.calls.conftest import wait_until
from tests.realtime.conftest import ulaw_tone
from tests.support import sandbox as sb
from tests.support.fake_realtime import CallFunction, FakeRealtimeServer, Response, Say, Script
from tests.support.fake_twilio import HttpRequest, LocalHttpServer
from tests.support.inbound import (
    DelayingProxy,
    announcement,
    inbound_route,
    raw_ami,
    ring_in,
)
from tests.support.platform_settings import ALWAYS
from tests.support.sandbox import Sandbox

pytestmark = pytest.mark.sandbox

HELLO = "213"  # far end: picks up, a short "hello", then silence up to 30 s
INBOUND = InboundSettings(enabled=True)


@pytest.fixture
async def fake() -> AsyncIterator[FakeRealtimeServer]:
    """A model that hears no speech: what the callers say is not what these tests are
    about, and a barge-in timed by the far end's prompts would cancel a scripted line."""
    async with FakeRealtimeServer(vad_threshold=10.0**9) as server:
        yield server


def greeting_then_end(words: str, outcome: str, summary: str) -> Response:
    """One whole turn of the agent, started only by the bridge's greeting."""
    say = Say(ulaw_tone(300), words)
    end = CallFunction("end_call", {"outcome": outcome, "summary": summary})
    return Response([say, end], trigger="response.create")


def stranger() -> str:
    return "+4420794" + str(secrets.randbelow(10**5)).rjust(5, "0")


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not await check():  # noqa: ASYNC110 - polling rows, no event to wait on
            await asyncio.sleep(0.1)


async def task_row(stack: AgentStack, task_id: int) -> Task:
    async with stack.sessions() as s:
        row = await tasks.get(s, user_id=stack.user_id, task_id=task_id)
    assert row is not None
    return row


async def route_published(stack: AgentStack) -> None:
    """The platform has pointed OPENDEEP_AUDIOSOCKET at itself (it does so at login)."""
    assert stack.platform is not None
    inbound = stack.platform.inbound
    assert inbound is not None
    await wait_until(lambda: inbound.route_published)


def metric(stack: AgentStack, name: str, **labels: str) -> float | None:
    """A sample as /metrics reports it."""
    assert stack.platform is not None
    return stack.platform.metrics.registry.get_sample_value(name, labels)


def instructions_of(fake: FakeRealtimeServer) -> list[str]:
    return [str(session.config.get("instructions", "")) for session in fake.sessions]


# --- a call-back -----------------------------------------------------------------------------
class ScriptedJudge:
    """The chat completions endpoint as the post-call judge uses it: one verdict per call."""

    def __init__(self, *verdicts: dict[str, Any]) -> None:
        self.verdicts = list(verdicts)
        self.asked: list[str] = []  # what each call's material said

    async def handle(self, request: HttpRequest) -> tuple[int, Any]:
        body = request.json()
        self.asked.append(body["messages"][-1]["content"])
        content = json.dumps(self.verdicts.pop(0))
        return 200, {
            "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
        }  # fmt: skip


def verdict(decision: str, reason: str, **fields: Any) -> dict[str, Any]:
    return {"decision": decision, "reason": reason, "result": [], "retry_after_minutes": None,
            "notes_for_next_attempt": "", **fields}  # fmt: skip


async def test_a_call_back_reaches_its_tasks_agent_and_completes_the_task(
    asterisk_sandbox: Sandbox, tmp_path: Path, fake: FakeRealtimeServer
) -> None:
    box = asterisk_sandbox
    callee = "+" + box.number(HELLO, Sandbox.new_token())
    objective = "Ask whether the blue bicycle is still for sale"
    fake.script = Script(
        [
            greeting_then_end("Hi, I am calling for Dana.", "callback_requested", "Call back."),
            greeting_then_end("Thanks for calling back.", "success", "It is still for sale."),
        ]
    )
    judge = ScriptedJudge(
        verdict("retry", "Sam asked to be called back", retry_after_minutes=120),
        verdict("success", "still for sale", result=[{"key": "for_sale", "value": "yes"}]),
    )
    async with LocalHttpServer(judge.handle) as chat:
        clients = OpenAIClients(
            chat=chat_client("sk-test", f"{chat.base_url}/v1"),
            realtime=realtime_client("test-key", fake.base_url),
        )
        try:
            async with (
                inbound_route(box),
                agent_stack(
                    box, tmp_path, fake, inbound=INBOUND, task_engine=True, calling=ALWAYS,
                    scheduler_poll=0.2, openai=clients,
                ) as stack,
            ):  # fmt: skip
                task_id, call_id, caller_token = await _called_then_called_back(
                    stack, callee, objective
                )
                done = await task_row(stack, task_id)
                async with stack.sessions() as s:
                    rows = await calls.list_for_task(s, user_id=stack.user_id, task_id=task_id)
                    said = await turns.list_for_call(s, user_id=stack.user_id, call_id=call_id)
        finally:
            await clients.aclose()
    far = box.far_end(caller_token)

    outbound, inbound = rows
    assert (outbound.direction, inbound.direction) == (CallDirection.OUTBOUND, "inbound")
    assert (inbound.id, inbound.task_id, inbound.phone_number) == (call_id, task_id, callee)
    assert (inbound.status, inbound.outcome, inbound.attempt_number) == (
        CallStatus.COMPLETED, "success", 1,
    )  # fmt: skip
    # The agent was told this task (and only this one), and that Sam was calling back.
    [told] = [i for i in instructions_of(fake) if "calling you back" in i]
    assert objective in told
    assert "Sam is calling you back" in told
    assert "Last time: the callee asked to be called back. Call back." in told  # attempt 1
    assert "Dana Example" in told  # on whose behalf: the task's owner
    # Judged like any call, told it was a call-back; it completed the task without
    # spending an attempt.
    assert "The contact called us back" in judge.asked[1]
    assert "Attempt 1 of 3" in judge.asked[0]
    assert (done.status, done.attempt_count, done.result) == (
        TaskStatus.SUCCEEDED, 1, {"for_sale": "yes"},
    )  # fmt: skip
    assert done.inter_call_context["history"][-1]["direction"] == "inbound"
    assert [(t.speaker, t.text) for t in said] == [("agent", "Thanks for calling back.")]
    assert far.has("answered")
    assert far.has("hangup")


async def _called_then_called_back(
    stack: AgentStack, callee: str, objective: str
) -> tuple[int, str, str]:
    """The scheduler calls Sam, who asks to be called back; Sam rings back instead."""
    async with stack.sessions() as s, s.begin():
        new = tasks.NewTask(phone_number=callee, objective=objective, contact_name="Sam")
        task = await tasks.create(s, user_id=stack.user_id, task=new)
    await until(lambda: _status_is(stack, task.id, TaskStatus.RETRY_SCHEDULED), timeout=30)
    ami = await raw_ami(stack.sandbox)
    try:
        caller_token = Sandbox.new_token()
        await ring_in(ami, callee, caller_token)  # from the number we called
        call_id = (await announcement(ami, callee))["CallID"]
        await until(lambda: _status_is(stack, task.id, TaskStatus.SUCCEEDED))
        await stack.sandbox.wait_far_end(caller_token, lambda r: r.has("hangup"))
    finally:
        await ami.aclose()
    return task.id, call_id, caller_token


async def _status_is(stack: AgentStack, task_id: int, status: TaskStatus) -> bool:
    return (await task_row(stack, task_id)).status == status


# --- an unknown caller -------------------------------------------------------------------------
async def test_an_unknown_caller_hears_the_message_and_nothing_of_anyone_is_told_or_kept(
    asterisk_sandbox: Sandbox, tmp_path: Path, fake: FakeRealtimeServer
) -> None:
    box = asterisk_sandbox
    fake.script = Script([greeting_then_end("We cannot help on this line.", "failure", "x")])
    async with inbound_route(box), agent_stack(box, tmp_path, fake, inbound=INBOUND) as stack:
        await route_published(stack)
        async with stack.sessions() as s, s.begin():  # data that must not reach the caller
            secret = tasks.NewTask(phone_number=stranger(), objective="Renew the passport")
            await tasks.create(s, user_id=stack.user_id, task=secret)
        ami = await raw_ami(box)
        try:
            route = await ami.action("Getvar", {"Variable": ROUTE_VARIABLE})
            caller, token = stranger(), Sandbox.new_token()
            await ring_in(ami, caller, token)
            call_id = (await announcement(ami, caller))["CallID"]
            far = await box.wait_far_end(token, lambda r: r.has("hangup"), timeout=15)
        finally:
            await ami.aclose()
        async with stack.sessions() as s:
            stored_calls = await s.scalar(select(func.count()).select_from(Call))
            stored_turns = await s.scalar(select(func.count()).select_from(CallTurn))
        written = stack.tap.call(call_id)

    # Set at login by the least-privilege user (AMI Setvar without a channel).
    assert route["Value"] == stack.tap.address
    [session] = fake.sessions
    assert session.config["instructions"] == message_instructions(INBOUND.unknown_message)
    assert "Dana" not in session.config["instructions"]
    assert "passport" not in session.config["instructions"]
    assert [tool["name"] for tool in session.config["tools"]] == ["end_call"]
    assert "transcription" not in session.config["audio"]["input"]  # nothing to store
    assert written.voiced()  # the message was spoken on the line
    assert (stored_calls, stored_turns) == (0, 0)  # nobody's call: no row, no turns
    assert far.duration is not None
    assert far.duration < 10  # we hung up after the message; the caller would wait 30 s
    assert stack.audio_server.rejected_connections == 0
    assert metric(stack, "opendeep_inbound_calls_total", handled="message") == 1


async def test_an_unknown_caller_is_put_through_to_the_owner_who_asked_for_it(
    asterisk_sandbox: Sandbox, tmp_path: Path, fake: FakeRealtimeServer
) -> None:
    box = asterisk_sandbox
    person = Sandbox.new_token()
    phone = "+" + box.number(sb.TRANSFER_TARGET, person)
    async with (
        inbound_route(box),
        agent_stack(box, tmp_path, fake, inbound=INBOUND, user_phone=phone) as stack,
    ):
        async with stack.sessions() as s, s.begin():
            await users.update(s, stack.user_id, profile=Profile(forward_unknown_callers=True))
        ami = await raw_ami(box)
        try:
            caller, token = stranger(), Sandbox.new_token()
            await ring_in(ami, caller, token)
            call_id = (await announcement(ami, caller))["CallID"]
            await box.wait_far_end(person, lambda r: r.reached, timeout=10)
            assert not box.far_end(token).has("hangup")  # the caller is with the person
            await stack.bus.publish(call_id, Hangup(reason="test done"))
            await box.wait_far_end(token, lambda r: r.has("hangup"), timeout=10)
            await until(lambda: _closed(stack, call_id), timeout=10)
        finally:
            await ami.aclose()
        async with stack.sessions() as s:
            row = await calls.get(s, user_id=stack.user_id, call_id=call_id)
    assert row is not None
    assert (row.direction, row.task_id, row.phone_number) == ("inbound", None, caller)
    assert (row.status, row.outcome, row.transferred) == (CallStatus.COMPLETED, "transferred", True)
    assert fake.sessions == []  # no agent: nobody talked to the caller on our side


async def test_with_every_call_slot_taken_the_caller_is_hung_up_on(
    asterisk_sandbox: Sandbox, tmp_path: Path, fake: FakeRealtimeServer
) -> None:
    box = asterisk_sandbox
    async with (
        inbound_route(box),
        agent_stack(box, tmp_path, fake, inbound=INBOUND, max_calls=1) as stack,
    ):
        assert stack.platform is not None
        slot = await stack.platform.slots.acquire("a call in progress")
        try:
            caller = "+" + box.number(HELLO, Sandbox.new_token())
            async with stack.sessions() as s, s.begin():  # a call-back, but no line for it
                new = tasks.NewTask(phone_number=caller, objective="Ask about the bicycle")
                task = await tasks.create(s, user_id=stack.user_id, task=new)
                await calls.create_dialing(
                    s, user_id=stack.user_id, call_id=str(uuid.uuid4()), phone_number=caller,
                    task_id=task.id,
                )  # fmt: skip
            _call_id, far = await _ring_in_from(box, caller)
        finally:
            await slot.release()
        async with stack.sessions() as s:
            rows = await calls.list_for_task(s, user_id=stack.user_id, task_id=task.id)
    assert metric(stack, "opendeep_inbound_calls_total", handled="no_slot") == 1
    assert far.duration is not None
    assert far.duration < 5  # the slot wait (2 s), then our hangup
    assert [row.direction for row in rows] == ["outbound"]  # nothing stored for it
    assert fake.sessions == []  # no model session was opened


async def _closed(stack: AgentStack, call_id: str) -> bool:
    async with stack.sessions() as s:
        row = await calls.get(s, user_id=stack.user_id, call_id=call_id)
    return row is not None and CallStatus(row.status).is_final


# --- the AudioSocket side, in both orders, and unknown ids -------------------------------------
async def test_the_connection_first_waits_for_its_late_announcement(
    asterisk_sandbox: Sandbox, tmp_path: Path, fake: FakeRealtimeServer
) -> None:
    """The platform's AMI trails by 0.2 s: the UUID reaches the server before the
    UserEvent reaches the platform; the server holds it and the call attaches."""
    box = asterisk_sandbox
    fake.script = Script([greeting_then_end("Goodbye.", "failure", "x")])
    async with (
        DelayingProxy(box.ami_host, box.ami_port, delay=0.2) as late_ami,
        inbound_route(box),
        agent_stack(box, tmp_path, fake, inbound=INBOUND, ami_port=late_ami.port) as stack,
    ):
        await route_published(stack)
        call_id, far = await _ring_a_stranger(box)
        written = stack.tap.call(call_id)
    announced_to_us = late_ami.forwarded_at(call_id.encode())
    assert written.forwarded_at is not None
    assert announced_to_us is not None
    assert written.forwarded_at < announced_to_us  # this order, for sure
    assert stack.audio_server.rejected_connections == 0
    assert stack.audio_server.sessions_total == 1
    assert written.voiced()
    assert far.duration is not None
    assert far.duration < 10


async def test_the_announcement_first_attaches_its_late_connection(
    asterisk_sandbox: Sandbox, tmp_path: Path, fake: FakeRealtimeServer
) -> None:
    box = asterisk_sandbox
    fake.script = Script([greeting_then_end("Goodbye.", "failure", "x")])
    async with inbound_route(box), agent_stack(box, tmp_path, fake, inbound=INBOUND) as stack:
        stack.tap.first_bytes_delay = 0.3  # the connection reaches the server 0.3 s late
        await route_published(stack)
        ami = await raw_ami(box)
        try:
            caller, token = stranger(), Sandbox.new_token()
            await ring_in(ami, caller, token)
            call_id = (await announcement(ami, caller))["CallID"]
            announced_at = time.monotonic()  # our own AMI heard it; the platform's did too
            far = await box.wait_far_end(token, lambda r: r.has("hangup"), timeout=15)
        finally:
            await ami.aclose()
        written = stack.tap.call(call_id)
    assert written.forwarded_at is not None
    assert written.forwarded_at - announced_at > 0.15
    assert stack.audio_server.rejected_connections == 0
    assert written.voiced()
    assert far.duration is not None
    assert far.duration < 10


async def test_an_id_never_announced_to_us_is_refused_at_once(
    asterisk_sandbox: Sandbox, tmp_path: Path, fake: FakeRealtimeServer
) -> None:
    """A platform that takes no inbound calls, but the route points at it anyway: the
    UUID Asterisk sends is none of ours, so the connection is refused and the call ends."""
    box = asterisk_sandbox
    async with inbound_route(box), agent_stack(box, tmp_path, fake) as stack:
        ami = await raw_ami(box)
        try:
            await ami.action("Setvar", {"Variable": ROUTE_VARIABLE, "Value": stack.tap.address})
            caller, token = stranger(), Sandbox.new_token()
            await ring_in(ami, caller, token)
            await announcement(ami, caller)
            far = await box.wait_far_end(token, lambda r: r.has("hangup"), timeout=10)
        finally:
            await ami.aclose()
        await wait_until(lambda: stack.audio_server.rejected_connections == 1)
    assert stack.audio_server.rejections == {"unknown_call_id": 1}
    assert metric(stack, "opendeep_audiosocket_rejected_total", reason="unknown_call_id") == 1
    assert stack.audio_server.sessions_total == 0
    assert far.duration is not None
    assert far.duration < 3  # refused at once: Asterisk hung the caller up
    assert fake.sessions == []


async def _ring_a_stranger(box: Sandbox) -> tuple[str, sb.FarEndResult]:
    return await _ring_in_from(box, stranger())


async def _ring_in_from(box: Sandbox, caller: str) -> tuple[str, sb.FarEndResult]:
    """Ring in from `caller` and wait until the calling side hung up."""
    ami = await raw_ami(box)
    try:
        token = Sandbox.new_token()
        await ring_in(ami, caller, token)
        call_id = (await announcement(ami, caller))["CallID"]
        far = await box.wait_far_end(token, lambda r: r.has("hangup"), timeout=15)
    finally:
        await ami.aclose()
    return call_id, far
