"""Answering-machine detection end to end: a call that asks for AMD reaches Asterisk's AMD()
through the real dialplan, and the verdict Asterisk reports is what the analyzer reads.

The call goes out through task_manager.initiator_launcher (the adapter main.py plugs in)
to a scripted far end; the analyzer's judge is the real LlmJudge against a local chat
endpoint, so the assertion is on the prompt it was sent. A second AMI connection, raw and
independent of the product's client, hears the UserEvent Asterisk sent.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from call_processor.finished_call import FinishedCall
from common.call_policy import CallPolicy
from database.repositories import task_events
from database.states import TaskActor, TaskStatus
from task_manager.call_launcher import PlannedCall
from task_manager.initiator_launcher import InitiatorLauncher
from task_manager.post_call_analyzer import PostCallAnalyzer
from tests.calls.conftest import call_stack
from tests.support import sandbox as sb
from tests.support.fake_twilio import LocalHttpServer
from tests.support.raw_ami import AmiMessage, EventPredicate, RawAmi
from tests.support.sandbox import Sandbox
from tests.task_manager.helpers import add_task, get_task
from tests.task_manager.test_post_call_analyzer import FakeChat, judge_for

pytestmark = pytest.mark.sandbox

AMD_VERDICTS = {"HUMAN", "MACHINE", "NOTSURE"}
RETRY_LATER = {
    "decision": "retry", "reason": "an answering machine", "retry_after_minutes": None,
    "result": [], "notes_for_next_attempt": "",
}  # fmt: skip


def amd_event_of(call_id: str) -> EventPredicate:
    def matches(event: AmiMessage) -> bool:
        return event.get("UserEvent") == "OpenDeepAMD" and event.get("Uniqueid") == call_id

    return matches


@pytest.mark.parametrize(
    ("detect_machine", "campaign_asks"),
    [(True, False), (False, True), (False, False)],
    ids=["amd", "campaign-amd", "no-amd"],
)
async def test_the_amd_verdict_asterisk_reports_is_what_the_judge_reads(
    asterisk_sandbox: Sandbox, tmp_path: Path, detect_machine: bool, campaign_asks: bool
) -> None:
    raw = await RawAmi.connect(asterisk_sandbox.ami_host, asterisk_sandbox.ami_port)
    await raw.login(asterisk_sandbox.ami_username, asterisk_sandbox.ami_secret)
    chat = FakeChat(RETRY_LATER)
    async with (
        call_stack(asterisk_sandbox, tmp_path, hangup_after=1.0) as stack,
        LocalHttpServer(chat.handle) as server,
    ):
        number = "+" + asterisk_sandbox.number(sb.PERSON, Sandbox.new_token())
        task = await add_task(stack.sessions, stack.user_id, number, objective="book a visit")
        async with stack.sessions() as s, s.begin():
            row = await get_task(stack.sessions, task)
            s.add(row)
            await task_events.move(
                s, row, TaskStatus.IN_PROGRESS, actor=TaskActor.SYSTEM, attempt_count=1
            )
        context = CallPolicy(asterisk_amd=campaign_asks).to_context()  # a campaign option
        planned = PlannedCall(
            stack.user_id, task.id, number, 1, context=context, detect_machine=detect_machine
        )
        judge = judge_for(server)
        analyzer = PostCallAnalyzer(stack.sessions, judge)
        handed: asyncio.Future[FinishedCall] = asyncio.get_running_loop().create_future()

        async def on_done(call: PlannedCall, finished: FinishedCall) -> None:
            await analyzer.on_call_done(call, finished)  # what the scheduler plugs in
            handed.set_result(finished)

        InitiatorLauncher(stack.initiator, 1).launch(planned, on_done)
        finished = await asyncio.wait_for(handed, 45)
        await judge.client.close()
        decided = await get_task(stack.sessions, task)
    await raw.aclose()

    assert finished.answered
    assert finished.call_id is not None
    (body,) = chat.bodies
    prompt = body["messages"][1]["content"]
    reported = raw.events_where(amd_event_of(finished.call_id))
    if detect_machine or campaign_asks:
        [event] = reported
        verdict = event["Status"]
        assert verdict in AMD_VERDICTS
        assert finished.amd_status == verdict  # what on_done handed the analyzer
        assert f"Answering machine detection: {verdict}\n" in prompt  # what the judge read
    else:  # off unless asked for: no AMD(), no verdict, and the judge is told so
        assert reported == []
        assert finished.amd_status is None
        assert "Answering machine detection: not run\n" in prompt
    assert decided.status == TaskStatus.RETRY_SCHEDULED
