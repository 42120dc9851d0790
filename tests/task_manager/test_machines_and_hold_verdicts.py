"""The analyzer and answering machines or long holds: the campaign's policy decides, the
LLM judge is never asked, and a voicemail is never a success unless a left message counts."""

from __future__ import annotations

import random
from typing import Any

import pytest

from audio_processing.talker_result import AnsweredBy
from common.call_policy import CallPolicy, VoicemailPolicy
from database.repositories import calls, task_events, turns
from database.states import Speaker, TaskActor, TaskStatus
from task_manager.call_judge import Decision
from task_manager.call_launcher import PlannedCall
from task_manager.post_call_analyzer import Backoff, PostCallAnalyzer
from tests.support.fake_twilio import LocalHttpServer
from tests.task_manager.helpers import (
    NEW_YORK,
    WEDNESDAY_15_UTC,
    FakeClock,
    Sessions,
    add_task,
    get_task,
    make_user,
    report,
)
from tests.task_manager.test_post_call_analyzer import FakeChat, judge_for

SUCCESS_SAYS_THE_JUDGE = {
    "decision": "success", "reason": "the agent spoke to someone", "retry_after_minutes": None,
    "result": [], "notes_for_next_attempt": "",
}  # fmt: skip


async def planned_call(sessions: Sessions, policy: CallPolicy) -> tuple[Any, PlannedCall]:
    user = await make_user(sessions)
    task = await add_task(sessions, user.id, NEW_YORK)
    async with sessions() as s, s.begin():
        row = await get_task(sessions, task)
        s.add(row)
        await task_events.move(
            s, row, TaskStatus.IN_PROGRESS, actor=TaskActor.SYSTEM, attempt_count=1
        )
    return task, PlannedCall(user.id, task.id, NEW_YORK, 1, context=policy.to_context())


def machine(message_left: bool = False) -> Any:
    return report(
        "completed",
        agent_outcome="voicemail",
        answered_by=AnsweredBy.MACHINE,
        message_left=message_left,
    )


CASES = [
    (VoicemailPolicy.HANG_UP_AND_RETRY, False, False, TaskStatus.RETRY_SCHEDULED),
    (VoicemailPolicy.LEAVE_MESSAGE, False, True, TaskStatus.RETRY_SCHEDULED),
    (VoicemailPolicy.LEAVE_MESSAGE, True, True, TaskStatus.SUCCEEDED),
    (VoicemailPolicy.LEAVE_MESSAGE, True, False, TaskStatus.RETRY_SCHEDULED),
    (VoicemailPolicy.NOTIFY_PERSON, False, False, TaskStatus.NEEDS_USER),
]


@pytest.mark.parametrize(("policy", "counts", "left", "status"), CASES)
async def test_a_voicemail_follows_the_campaign_whatever_the_judge_says(
    sessions: Sessions,
    policy: VoicemailPolicy,
    counts: bool,
    left: bool,
    status: TaskStatus,
) -> None:
    task, planned = await planned_call(sessions, CallPolicy(policy, message_counts=counts))
    chat = FakeChat(SUCCESS_SAYS_THE_JUDGE)
    async with LocalHttpServer(chat.handle) as server:
        judge = judge_for(server)
        analyzer = PostCallAnalyzer(
            sessions, judge, clock=FakeClock(WEDNESDAY_15_UTC), rng=random.Random(3)
        )
        await analyzer.on_call_done(planned, machine(message_left=left))
        await judge.client.close()
    assert chat.bodies == []  # decided by the rule, not read by the LLM
    row = await get_task(sessions, task)
    assert row.status == status
    if status is TaskStatus.RETRY_SCHEDULED:  # the voicemail backoff: hours, not minutes
        base = Backoff().base["voicemail"]
        assert base * 0.75 <= row.next_action_time - WEDNESDAY_15_UTC <= base * 1.25
    if status is TaskStatus.SUCCEEDED:
        assert row.result == {"voicemail": "message left"}
    if status is TaskStatus.NEEDS_USER:
        assert "answering machine" in row.last_decision_reason


async def test_the_agents_own_voicemail_verdict_is_a_machine_too(sessions: Sessions) -> None:
    _task, planned = await planned_call(sessions, CallPolicy())
    analyzer = PostCallAnalyzer(sessions)
    verdict = await analyzer.decide(planned, report("completed", agent_outcome="voicemail"))
    assert (verdict.decision, verdict.source) == (Decision.RETRY, "rule")


async def test_a_hold_past_the_limit_is_retried_later(sessions: Sessions) -> None:
    task, planned = await planned_call(sessions, CallPolicy(max_hold_minutes=20))
    analyzer = PostCallAnalyzer(sessions, clock=FakeClock(WEDNESDAY_15_UTC), rng=random.Random(3))
    held = report("completed", outcome="hold_timeout", hold_seconds=1200.0)
    await analyzer.on_call_done(planned, held)
    row = await get_task(sessions, task)
    assert row.status == TaskStatus.RETRY_SCHEDULED
    assert row.last_decision_reason == "on hold longer than 20 minutes"
    base = Backoff().base["hold_timeout"]
    assert base * 0.75 <= row.next_action_time - WEDNESDAY_15_UTC <= base * 1.25


async def test_the_judge_reads_who_answered_the_hold_and_turns_as_heard(
    sessions: Sessions,
) -> None:
    task, planned = await planned_call(sessions, CallPolicy())
    async with sessions() as s, s.begin():
        await calls.create_dialing(s, user_id=planned.user_id, call_id="c-9",
                                   phone_number=NEW_YORK, task_id=task.id)  # fmt: skip
        await turns.append(s, user_id=planned.user_id, call_id="c-9", speaker=Speaker.AGENT,
                           text="Hello, I …", cut_at_ms=120)  # fmt: skip
        await turns.append(s, user_id=planned.user_id, call_id="c-9", speaker=Speaker.CALLEE,
                           text="Sorry, go on.")  # fmt: skip
    chat = FakeChat(SUCCESS_SAYS_THE_JUDGE)
    async with LocalHttpServer(chat.handle) as server:
        judge = judge_for(server)
        done = report("completed", call_id="c-9", agent_outcome="success",
                      answered_by=AnsweredBy.PERSON, hold_seconds=192.0)  # fmt: skip
        verdict = await PostCallAnalyzer(sessions, judge).decide(planned, done)
        await judge.client.close()
    assert verdict.decision is Decision.SUCCESS  # a person: the judge decides
    prompt = chat.bodies[0]["messages"][1]["content"]
    assert "Answered by: person\n" in prompt
    assert "Time on hold: 3.2 min\n" in prompt
    assert "agent (cut off after 0.1 s): Hello, I …\ncallee: Sorry, go on." in prompt
