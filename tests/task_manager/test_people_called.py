"""The people called come first (issue 13): one person's opt-out binds every user, and no
test call reaches anyone outside the operator's calling hours."""

from __future__ import annotations

from datetime import UTC, datetime

from config.settings import CallingSettings
from database.repositories import task_events, tasks
from database.states import TaskActor, TaskStatus
from task_manager.call_launcher import PlannedCall
from task_manager.orchestrator import OrchestratorService
from task_manager.post_call_analyzer import PostCallAnalyzer
from task_manager.ui_assistant_svc import UiAssistantService
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

OPERATOR_HOURS = CallingSettings()  # 09:00-20:00, weekdays


def assistant(sessions: Sessions) -> UiAssistantService:
    return UiAssistantService(sessions, None, "m", OrchestratorService(sessions, CallingSettings()))


async def test_a_callee_opt_out_under_user_a_blocks_user_bs_task_and_test_call(
    sessions: Sessions,
) -> None:
    a, b = await make_user(sessions), await make_user(sessions)
    a_task = await add_task(sessions, a.id, NEW_YORK)
    async with sessions() as s, s.begin():
        row = await tasks.get(s, user_id=a.id, task_id=a_task.id)
        assert row is not None
        await task_events.move(
            s, row, TaskStatus.IN_PROGRESS, actor=TaskActor.SYSTEM, attempt_count=1
        )
    planned = PlannedCall(a.id, a_task.id, NEW_YORK, 1)
    await PostCallAnalyzer(sessions).on_call_done(
        planned, report("completed", agent_outcome="do_not_call")
    )
    b_task = await add_task(sessions, b.id, NEW_YORK)
    b_test = await assistant(sessions).test_call(b.id, NEW_YORK, "check the line")
    launcher = FakeLauncher(slots=5)
    await scheduler_on(
        sessions, launcher, FakeClock(WEDNESDAY_15_UTC), calling=OPERATOR_HOURS
    ).tick()
    assert launcher.launched == []
    assert (await get_task(sessions, b_task)).status == TaskStatus.CANCELLED_DND
    async with sessions() as s:
        [test_task] = await tasks.list_for_user(s, user_id=b.id, campaign_id=b_test["campaign_id"])
    assert test_task.status == TaskStatus.CANCELLED_DND


async def test_a_test_call_at_night_waits_for_the_operators_hours(sessions: Sessions) -> None:
    """Saturday 03:00 in New York: the test call waits for Monday 09:00 (Mon-Fri 09-20)."""
    user = await make_user(sessions)
    created = await assistant(sessions).test_call(user.id, NEW_YORK, "check the line")
    saturday_3am = datetime(2026, 3, 7, 8, 0, tzinfo=UTC)
    launcher = FakeLauncher(slots=5)
    await scheduler_on(sessions, launcher, FakeClock(saturday_3am), calling=OPERATOR_HOURS).tick()
    assert launcher.launched == []
    async with sessions() as s:
        [row] = await tasks.list_for_user(s, user_id=user.id, campaign_id=created["campaign_id"])
    assert row.priority == tasks.MAX_PRIORITY
    assert row.next_action_time == datetime(2026, 3, 9, 13, 0, tzinfo=UTC)  # Mon 09:00 EDT
