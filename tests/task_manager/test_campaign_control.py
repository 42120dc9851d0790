"""The person's hand on their work, against the real scheduler and analyzer: a paused
campaign is never claimed and comes back on resume; a cancel stands down what waits and
lets running calls finish; a task that needs the person is settled done, retry or fail;
a call the person hung up waits on them instead of being called again."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from common.commands import PERSON_HANGUP
from database.errors import NotFound
from database.models import Campaign, Task
from database.repositories import campaigns, task_events
from database.states import CampaignStatus, TaskActor, TaskStatus
from task_manager.campaign_control import CampaignControlService
from task_manager.post_call_analyzer import PostCallAnalyzer
from task_manager.scheduler import TaskSchedulerService
from tests.task_manager.helpers import (
    NEW_YORK,
    WEDNESDAY_15_UTC,
    FakeClock,
    FakeLauncher,
    Sessions,
    add_task,
    get_task,
    make_user,
    report,
    scheduler_on,
)


async def _campaign(sessions: Sessions, user_id: int, **fields: Any) -> Campaign:
    async with sessions() as s, s.begin():
        return await campaigns.create(s, user_id=user_id, name="dentists", **fields)


async def _campaign_row(sessions: Sessions, campaign: Campaign) -> Campaign:
    async with sessions() as s:
        row = await campaigns.get(s, user_id=campaign.user_id, campaign_id=campaign.id)
    assert row is not None
    return row


def _engine(sessions: Sessions, clock: FakeClock) -> tuple[TaskSchedulerService, FakeLauncher]:
    launcher = FakeLauncher(slots=10)
    analyzer = PostCallAnalyzer(sessions, None, clock=clock)
    return scheduler_on(sessions, launcher, clock, on_call_done=analyzer.on_call_done), launcher


async def _set(sessions: Sessions, task: Task, **fields: Any) -> None:
    async with sessions() as s, s.begin():
        row = await get_task(sessions, task)
        s.add(row)
        status = fields.pop("status", row.status)
        await task_events.move(s, row, status, actor=TaskActor.SYSTEM, **fields)


async def test_a_paused_campaign_is_not_claimed_until_it_is_resumed(sessions: Sessions) -> None:
    user = await make_user(sessions)
    paused, other = await _campaign(sessions, user.id), await _campaign(sessions, user.id)
    waiting = [await add_task(sessions, user.id, NEW_YORK, campaign_id=paused.id) for _ in "ab"]
    elsewhere = await add_task(sessions, user.id, "+12025550123", campaign_id=other.id)
    loose = await add_task(sessions, user.id, "+12025550124")  # no campaign at all
    control = CampaignControlService(sessions)
    clock = FakeClock(WEDNESDAY_15_UTC)
    scheduler, launcher = _engine(sessions, clock)

    assert await control.pause(user.id, paused.id) == {"campaign_id": paused.id, "status": "paused"}
    assert await control.pause(user.id, paused.id) == {"campaign_id": paused.id, "status": "paused"}
    for _ in range(3):  # tick after tick: nothing of the paused campaign is touched
        await scheduler.tick()
        clock.advance(timedelta(minutes=5))
    assert {c.task_id for c in launcher.launched} == {elsewhere.id, loose.id}
    for task in waiting:
        row = await get_task(sessions, task)
        assert (row.status, row.attempt_count, row.claimed_by) == (TaskStatus.PENDING, 0, None)

    assert await control.resume(user.id, paused.id) == {
        "campaign_id": paused.id,
        "status": "active",
    }
    await scheduler.tick()
    assert {c.task_id for c in launcher.launched} == {
        elsewhere.id,
        loose.id,
        *(t.id for t in waiting),
    }


async def test_pausing_leaves_a_running_call_alone_and_its_retry_waits(sessions: Sessions) -> None:
    user = await make_user(sessions)
    campaign = await _campaign(sessions, user.id)
    task = await add_task(sessions, user.id, NEW_YORK, campaign_id=campaign.id)
    clock = FakeClock(WEDNESDAY_15_UTC)
    scheduler, launcher = _engine(sessions, clock)
    await scheduler.tick()
    assert [c.task_id for c in launcher.launched] == [task.id]

    await CampaignControlService(sessions).pause(user.id, campaign.id)
    await launcher.finish(task.id, report("busy"))  # the call ran to its end
    row = await get_task(sessions, task)
    assert row.status == TaskStatus.RETRY_SCHEDULED
    clock.now = row.next_action_time or clock.now  # its retry is due, but paused
    await scheduler.tick()
    assert len(launcher.launched) == 1
    await CampaignControlService(sessions).resume(user.id, campaign.id)
    await scheduler.tick()
    assert [c.attempt_number for c in launcher.launched] == [1, 2]


async def test_cancel_stands_down_what_waits_and_the_running_call_finishes(
    sessions: Sessions,
) -> None:
    user = await make_user(sessions)
    campaign = await _campaign(sessions, user.id)
    running = await add_task(sessions, user.id, NEW_YORK, campaign_id=campaign.id)
    clock = FakeClock(WEDNESDAY_15_UTC)
    scheduler, launcher = _engine(sessions, clock)
    await scheduler.tick()
    queued = await add_task(sessions, user.id, "+12025550123", campaign_id=campaign.id)
    waiting = await add_task(sessions, user.id, "+12025550124", campaign_id=campaign.id)
    await _set(sessions, waiting, status=TaskStatus.NEEDS_USER)
    done = await add_task(sessions, user.id, "+12025550125", campaign_id=campaign.id)
    await _set(sessions, done, status=TaskStatus.SUCCEEDED)

    result = await CampaignControlService(sessions).cancel(user.id, campaign.id)
    assert result == {"campaign_id": campaign.id, "status": "cancelled", "tasks_cancelled": 2}
    assert (await _campaign_row(sessions, campaign)).status == CampaignStatus.CANCELLED
    for task in (queued, waiting):
        row = await get_task(sessions, task)
        assert (row.status, row.last_decision_reason) == (
            TaskStatus.CANCELLED, "you cancelled the campaign",
        )  # fmt: skip
    assert (await get_task(sessions, done)).status == TaskStatus.SUCCEEDED
    assert (await get_task(sessions, running)).status == TaskStatus.IN_PROGRESS  # untouched

    await launcher.finish(running.id, report("no_answer"))  # it asks for another attempt...
    row = await get_task(sessions, running)
    clock.now = row.next_action_time or clock.now
    await scheduler.tick()  # ...which the scheduler stands down
    assert len(launcher.launched) == 1
    assert (await get_task(sessions, running)).status == TaskStatus.CANCELLED
    again = await CampaignControlService(sessions).cancel(user.id, campaign.id)
    assert again == {"refused": "the campaign is already cancelled"}
    assert await CampaignControlService(sessions).resume(user.id, campaign.id) == {
        "refused": "the campaign is cancelled, not paused"
    }


async def test_another_persons_campaign_or_task_is_not_found(sessions: Sessions) -> None:
    owner, other = await make_user(sessions), await make_user(sessions)
    campaign = await _campaign(sessions, owner.id)
    task = await add_task(sessions, owner.id, NEW_YORK, campaign_id=campaign.id)
    await _set(sessions, task, status=TaskStatus.NEEDS_USER)
    control = CampaignControlService(sessions)
    for act in (control.pause, control.resume, control.cancel):
        with pytest.raises(NotFound):
            await act(other.id, campaign.id)
    with pytest.raises(NotFound):
        await control.settle(other.id, task.id, "done", "")
    assert (await _campaign_row(sessions, campaign)).status == CampaignStatus.ACTIVE
    assert (await get_task(sessions, task)).status == TaskStatus.NEEDS_USER


@pytest.mark.parametrize(
    ("decision", "status", "reason"),
    [
        ("done", TaskStatus.SUCCEEDED, "booked it myself"),
        ("fail", TaskStatus.FAILED, ""),
    ],
)
async def test_settling_done_or_fail_is_final_with_the_persons_reason(
    sessions: Sessions, decision: str, status: TaskStatus, reason: str
) -> None:
    user = await make_user(sessions)
    task = await add_task(sessions, user.id, NEW_YORK)
    await _set(sessions, task, status=TaskStatus.NEEDS_USER, attempt_count=1)
    result = await CampaignControlService(sessions).settle(user.id, task.id, decision, reason)
    assert result == {"task_id": task.id, "status": str(status)}
    row = await get_task(sessions, task)
    assert (row.status, row.last_decision) == (status, f"person_{decision}")
    assert row.last_decision_reason == (reason or "you marked it failed")
    again = await CampaignControlService(sessions).settle(user.id, task.id, "retry", "")
    assert again == {"refused": f"this task does not wait on you (it is {status})"}


async def test_settling_retry_calls_again_now_with_one_more_attempt_and_reopens_the_campaign(
    sessions: Sessions,
) -> None:
    user = await make_user(sessions)
    campaign = await _campaign(sessions, user.id, status=CampaignStatus.COMPLETED)
    task = await add_task(sessions, user.id, NEW_YORK, campaign_id=campaign.id, max_attempts=1)
    await _set(sessions, task, status=TaskStatus.NEEDS_USER, attempt_count=1)
    clock = FakeClock(WEDNESDAY_15_UTC)
    scheduler, launcher = _engine(sessions, clock)
    result = await CampaignControlService(sessions).settle(user.id, task.id, "retry", "ask again")
    assert result == {"task_id": task.id, "status": "retry_scheduled"}
    assert (await _campaign_row(sessions, campaign)).status == CampaignStatus.ACTIVE
    clock.now = (await get_task(sessions, task)).next_action_time or clock.now
    await scheduler.tick()
    assert [(c.task_id, c.attempt_number) for c in launcher.launched] == [(task.id, 2)]

    cancelled = await _campaign(sessions, user.id, status=CampaignStatus.CANCELLED)
    late = await add_task(sessions, user.id, NEW_YORK, campaign_id=cancelled.id)
    await _set(sessions, late, status=TaskStatus.NEEDS_USER)
    refused = await CampaignControlService(sessions).settle(user.id, late.id, "retry", "")
    assert refused == {"refused": "the campaign was cancelled, so nothing more will be called"}
    assert (await get_task(sessions, late)).status == TaskStatus.NEEDS_USER
    bogus = await CampaignControlService(sessions).settle(user.id, late.id, "maybe", "")
    assert bogus == {"refused": "decide done, retry or fail"}


async def test_a_call_the_person_hung_up_waits_on_them(sessions: Sessions) -> None:
    """Not retried behind their back: they ended it, they decide (settle)."""
    user = await make_user(sessions)
    task = await add_task(sessions, user.id, NEW_YORK)
    clock = FakeClock(WEDNESDAY_15_UTC)
    scheduler, launcher = _engine(sessions, clock)
    await scheduler.tick()
    hung_up = report("completed", end_reason=PERSON_HANGUP, answered=True)
    await launcher.finish(task.id, hung_up)
    row = await get_task(sessions, task)
    assert row.status == TaskStatus.NEEDS_USER
    assert row.last_decision_reason == (
        "you hung up this call: mark the task done, retry it or fail it"
    )
