"""End to end with the real call stack and the Asterisk sandbox: a 5-task campaign with
"stop after 1 success". The first number is busy, the second answers and the agent reports
success; the rest stand down, and the summary email reaches a local SMTP server.

The platform is built as main.py builds it (its scheduler, its launcher); the talker is a
scripted one that says its piece, records a fact with the agent's tool host, hangs up and
reports "success" like end_call would.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from audio_processing.call_audio import CallAudio
from audio_processing.talker_result import TalkerEnd, TalkerResult
from call_processor.call_initiator import CallRequest
from call_processor.call_tools import CallToolHost
from common.call_outcomes import AgentOutcome
from database.repositories import campaigns, tasks
from database.states import CampaignStatus, TaskStatus
from launcher.platform import Platform
from tests.calls.conftest import ClosableRecorder, call_stack
from tests.support.platform_settings import ALWAYS
from tests.support.sandbox import Sandbox
from tests.support.smtp_server import LocalSmtpServer
from tests.task_manager.test_senders_and_notifier import email_settings

pytestmark = pytest.mark.sandbox


class SuccessTalker(ClosableRecorder):
    """Says its piece, records a fact through the agent's own tool host, hangs up and
    reports what end_call("success", ...) would."""

    def __init__(self, tools: CallToolHost) -> None:
        super().__init__(play=bytes(8000), hangup_after_play=True)
        self.tools = tools

    async def run(self, audio: CallAudio) -> None:
        await self.tools.call_tool("record_fact", {"key": "time", "value": "Tue 10:00"})
        await super().run(audio)

    def result(self) -> TalkerResult:
        return TalkerResult(TalkerEnd.END_CALL, AgentOutcome.SUCCESS, summary="booked")


class SuccessTalkers:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    async def prepare(self, request: CallRequest, call_id: str) -> SuccessTalker:
        tools = CallToolHost(
            sessions=self.platform.sessions, bus=self.platform.bus, user_id=request.user_id,
            call_id=call_id, task_id=request.task_id,
        )  # fmt: skip
        return SuccessTalker(tools)


async def test_first_success_stands_down_the_rest_and_the_summary_is_emailed(
    asterisk_sandbox: Sandbox, tmp_path: Path
) -> None:
    """The platform as main.py builds it (one call at a time), with the scripted agent."""
    sb = asterisk_sandbox
    async with (
        LocalSmtpServer() as smtp,
        call_stack(
            sb, tmp_path, make_talkers=SuccessTalkers, task_engine=True, calling=ALWAYS,
            scheduler_poll=0.2, max_calls=1, email=email_settings(smtp),
        ) as stack,
    ):  # fmt: skip
        assert stack.platform is not None
        sessions, user_id = stack.sessions, stack.user_id
        numbers = ["+" + sb.number("204", "71001"), "+" + sb.number("202", "71002")]
        numbers += ["+" + sb.number("202", f"7100{i}") for i in (3, 4, 5)]
        async with sessions() as s, s.begin():
            campaign = await campaigns.create(
                s, user_id=user_id, name="cleaning", stop_after_successes=1
            )
            rows = await tasks.create_many(s, user_id=user_id, campaign_id=campaign.id, tasks=[
                tasks.NewTask(phone_number=n, objective="book", contact_name=f"c{i}",
                              priority=10 - i)
                for i, n in enumerate(numbers)
            ])  # fmt: skip
        statuses = await wait_for_final(stack.sessions, user_id, campaign.id)
        assert (await stack.platform.lifecycle.sweep()).campaigns_finished == 1
        (mail,) = await smtp.wait_for(1, timeout=10)
        async with sessions() as s:  # before the stack disposes the engine
            done = await campaigns.get(s, user_id=user_id, campaign_id=campaign.id)
            first = await tasks.get(s, user_id=user_id, task_id=rows[0].id)

    assert statuses == [
        TaskStatus.GOAL_MET_ELSEWHERE,  # busy first, retry stood down
        TaskStatus.SUCCEEDED,
        TaskStatus.GOAL_MET_ELSEWHERE,
        TaskStatus.GOAL_MET_ELSEWHERE,
        TaskStatus.GOAL_MET_ELSEWHERE,
    ]
    assert [r.id for r in rows] == sorted(r.id for r in rows)
    assert mail["Subject"] == 'Campaign "cleaning" finished'
    assert "1 of 5 tasks succeeded" in mail.get_payload()
    assert "time: Tue 10:00" in mail.get_payload()
    assert done is not None
    assert done.status == CampaignStatus.COMPLETED
    assert first is not None
    assert first.attempt_count == 1
    assert first.inter_call_context["history"][0]["reason"] == "the line was busy"


async def wait_for_final(sessions, user_id: int, campaign_id: int) -> list[TaskStatus]:
    seen: list[tuple[str, str | None, str | None]] = []
    try:
        async with asyncio.timeout(60):
            while True:
                async with sessions() as s:
                    rows = await tasks.list_for_user(s, user_id=user_id, campaign_id=campaign_id)
                seen = [(r.status, r.last_decision, r.last_decision_reason) for r in rows]
                if all(TaskStatus(r.status).is_final for r in rows):
                    return [TaskStatus(r.status) for r in rows]
                await asyncio.sleep(0.2)
    except TimeoutError:
        pytest.fail(f"the campaign did not finish: {seen}")
