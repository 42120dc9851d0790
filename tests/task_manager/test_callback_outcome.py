"""A call-back decides its task like a call, but never spends an attempt: the state table
(every task state with every decision), then the stored effect on real rows."""

from __future__ import annotations

import random
from typing import Any

import pytest

from call_processor.call_initiator import CallRequest
from database.repositories import campaigns, dnd, task_events
from database.states import TaskActor, TaskStatus
from task_manager.call_judge import Decision, Verdict
from task_manager.call_launcher import PlannedCall
from task_manager.callback_outcome import CallbackOutcome, callback_status
from task_manager.post_call_analyzer import PostCallAnalyzer
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

WAITING = {TaskStatus.PENDING, TaskStatus.RETRY_SCHEDULED, TaskStatus.NEEDS_USER}
DECIDED = {
    Decision.SUCCESS: TaskStatus.SUCCEEDED,
    Decision.FAILED: TaskStatus.FAILED,
    Decision.NEEDS_USER: TaskStatus.NEEDS_USER,
    Decision.DO_NOT_CALL: TaskStatus.CANCELLED_DND,
}


@pytest.mark.parametrize("current", list(TaskStatus))
@pytest.mark.parametrize("decision", list(Decision))
def test_the_state_table(current: TaskStatus, decision: Decision) -> None:
    new = callback_status(current, decision)
    if decision is Decision.RETRY or current not in WAITING | {TaskStatus.FAILED}:
        assert new is None  # keeps its schedule, or is an attempt's (or nobody's) to decide
    elif DECIDED[decision] == current:
        assert new is None  # nothing to change
    else:
        assert new == DECIDED[decision]


def outcome(sessions: Sessions) -> CallbackOutcome:
    analyzer = PostCallAnalyzer(
        sessions, None, clock=FakeClock(WEDNESDAY_15_UTC), rng=random.Random(7)
    )
    return CallbackOutcome(analyzer)


async def task_in(sessions: Sessions, status: TaskStatus, attempts: int = 2, **fields: Any):
    user = await make_user(sessions)
    task = await add_task(sessions, user.id, NEW_YORK, max_attempts=3, **fields)
    async with sessions() as s, s.begin():
        row = await get_task(sessions, task)
        s.add(row)
        await task_events.move(s, row, status, actor=TaskActor.SYSTEM, attempt_count=attempts)
        row.next_action_time = WEDNESDAY_15_UTC
    return await get_task(sessions, task)


def call_back(task: Any) -> CallRequest:
    context = {"direction": "inbound", "objective": task.objective}
    return CallRequest(task.user_id, NEW_YORK, task.id, task.attempt_count, context)


async def test_a_successful_call_back_completes_a_failed_task_without_an_attempt(
    sessions: Sessions,
) -> None:
    task = await task_in(sessions, TaskStatus.FAILED, attempts=3)
    finished = report("completed", answered=True, agent_outcome="success",
                      summary="booked Tuesday 10:00", facts={"slot": "Tue 10:00"})  # fmt: skip
    await outcome(sessions).on_call_done(call_back(task), finished)
    row = await get_task(sessions, task)
    assert (row.status, row.attempt_count) == (TaskStatus.SUCCEEDED, 3)
    assert row.result == {"slot": "Tue 10:00"}
    assert row.last_decision_reason == "call-back: booked Tuesday 10:00"
    assert row.inter_call_context["history"][-1] == {
        "attempt": 3, "direction": "inbound", "decision": "success",
        "reason": "booked Tuesday 10:00", "notes": "",
    }  # fmt: skip


async def test_a_retry_keeps_the_task_and_its_schedule_and_only_teaches(
    sessions: Sessions,
) -> None:
    task = await task_in(sessions, TaskStatus.RETRY_SCHEDULED)
    finished = report("completed", answered=True, agent_outcome="callback_requested",
                      summary="call again after lunch")  # fmt: skip
    await outcome(sessions).on_call_done(call_back(task), finished)
    row = await get_task(sessions, task)
    assert (row.status, row.attempt_count) == (TaskStatus.RETRY_SCHEDULED, 2)
    assert row.next_action_time == WEDNESDAY_15_UTC
    assert row.last_decision is None
    assert row.inter_call_context["history"][-1]["reason"] == "call again after lunch"


async def test_a_task_on_a_live_attempt_is_that_attempts_to_decide(sessions: Sessions) -> None:
    task = await task_in(sessions, TaskStatus.IN_PROGRESS)
    finished = report("completed", answered=True, agent_outcome="success", summary="done")
    await outcome(sessions).on_call_done(call_back(task), finished)
    row = await get_task(sessions, task)
    assert (row.status, row.attempt_count, row.result) == (TaskStatus.IN_PROGRESS, 2, None)
    assert row.inter_call_context["history"][-1]["direction"] == "inbound"


async def test_do_not_call_always_lists_the_number(sessions: Sessions) -> None:
    done = await task_in(sessions, TaskStatus.SUCCEEDED)
    finished = report("completed", answered=True, agent_outcome="do_not_call", summary="stop")
    await outcome(sessions).on_call_done(call_back(done), finished)
    assert (await get_task(sessions, done)).status == TaskStatus.SUCCEEDED
    waiting = await task_in(sessions, TaskStatus.PENDING)
    await outcome(sessions).on_call_done(call_back(waiting), finished)
    assert (await get_task(sessions, waiting)).status == TaskStatus.CANCELLED_DND
    async with sessions() as s:
        for task in (done, waiting):
            assert await dnd.is_blocked(s, user_id=task.user_id, phone_number=NEW_YORK)


async def test_an_unanswered_call_back_changes_nothing(sessions: Sessions) -> None:
    task = await task_in(sessions, TaskStatus.NEEDS_USER)
    await outcome(sessions).on_call_done(call_back(task), report("ai_failure"))
    row = await get_task(sessions, task)
    assert (row.status, row.attempt_count) == (TaskStatus.NEEDS_USER, 2)


async def test_a_success_that_meets_the_campaign_goal_stands_the_rest_down(
    sessions: Sessions,
) -> None:
    user = await make_user(sessions)
    async with sessions() as s, s.begin():
        campaign = await campaigns.create(s, user_id=user.id, name="c", stop_after_successes=1)
    called_back = await add_task(sessions, user.id, NEW_YORK, campaign_id=campaign.id)
    other = await add_task(sessions, user.id, "+12125550000", campaign_id=campaign.id)
    finished = report("completed", answered=True, agent_outcome="success", summary="ok")
    await outcome(sessions).on_call_done(call_back(called_back), finished)
    assert (await get_task(sessions, called_back)).status == TaskStatus.SUCCEEDED
    assert (await get_task(sessions, other)).status == TaskStatus.GOAL_MET_ELSEWHERE


async def test_a_task_that_is_gone_is_not_decided(sessions: Sessions) -> None:
    gone = PlannedCall(user_id=1, task_id=10_000, phone_number=NEW_YORK, attempt_number=1)
    verdict = Verdict(Decision.SUCCESS, "x", "agent")
    assert await outcome(sessions).apply(gone, verdict) is None
