"""The scheduler's decisions per claimed task, capacity, priority and lease renewal."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from call_processor.finished_call import FinishedCall
from config.settings import CallingSettings
from database.profile import Profile
from database.repositories import calls, campaigns, dnd, task_events
from database.states import CampaignStatus, TaskActor, TaskStatus
from task_manager.call_launcher import PlannedCall
from task_manager.scheduler import TaskSchedulerService
from tests.support.platform_settings import ALWAYS
from tests.task_manager.helpers import (
    LONDON,
    LOS_ANGELES,
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

done: list[tuple[PlannedCall, FinishedCall]] = []


async def record_done(call: PlannedCall, finished: FinishedCall) -> None:
    done.append((call, finished))


def scheduler(
    sessions: Sessions, launcher: FakeLauncher, clock: FakeClock, calling: CallingSettings
) -> TaskSchedulerService:
    return scheduler_on(sessions, launcher, clock, on_call_done=record_done, calling=calling)


async def test_each_claimed_task_gets_the_right_decision(sessions: Sessions) -> None:
    user = await make_user(sessions, time_zone="America/New_York")
    clock = FakeClock(WEDNESDAY_15_UTC)  # 10:00 New York, 07:00 Los Angeles
    launcher = FakeLauncher(slots=10)
    callable_now = await add_task(sessions, user.id, NEW_YORK)
    too_early = await add_task(sessions, user.id, LOS_ANGELES)
    on_dnd = await add_task(sessions, user.id, LONDON)
    global_dnd = await add_task(sessions, user.id, "+4915112345678")
    exhausted = await add_task(sessions, user.id, "+12025550123", max_attempts=1)
    async with sessions() as s, s.begin():
        await dnd.add(s, user_id=user.id, phone_number=LONDON)
        await dnd.add(s, user_id=None, phone_number="+4915112345678")
    async with sessions() as s, s.begin():  # an attempt already used
        row = await get_task(sessions, exhausted)
        s.add(row)
        row.attempt_count = 1
    launched = await scheduler(sessions, launcher, clock, CallingSettings()).tick()

    assert [c.task_id for c in launched] == [callable_now.id]
    assert launched[0].attempt_number == 1
    assert launched[0].context["objective"] == "book"
    now_row = await get_task(sessions, callable_now)
    assert (now_row.status, now_row.attempt_count) == (TaskStatus.IN_PROGRESS, 1)
    assert now_row.lease_expires_at == WEDNESDAY_15_UTC + timedelta(minutes=2)
    early = await get_task(sessions, too_early)
    assert early.status == TaskStatus.PENDING
    assert early.next_action_time == datetime(2026, 3, 4, 17, tzinfo=UTC)  # 09:00 in LA
    assert (await get_task(sessions, on_dnd)).status == TaskStatus.CANCELLED_DND
    assert (await get_task(sessions, global_dnd)).status == TaskStatus.CANCELLED_DND
    assert (await get_task(sessions, exhausted)).status == TaskStatus.FAILED


async def test_windows_of_user_campaign_and_task_narrow_the_default(sessions: Sessions) -> None:
    user = await make_user(
        sessions, profile=Profile.model_validate({"calling_window": {"start": "11:00"}})
    )
    async with sessions() as s, s.begin():
        campaign = await campaigns.create(s, user_id=user.id, name="c", window_end=time(12))
    by_user = await add_task(sessions, user.id, NEW_YORK)
    by_task = await add_task(
        sessions, user.id, NEW_YORK, campaign_id=campaign.id,
        inter_call_context={"calling_window": {"start": "10:00", "time_zone": "Asia/Tokyo"}},
    )  # fmt: skip
    clock = FakeClock(WEDNESDAY_15_UTC)  # 10:00 New York; 00:00 Thursday in Tokyo
    await scheduler(sessions, FakeLauncher(), clock, CallingSettings()).tick()
    assert (await get_task(sessions, by_user)).next_action_time == WEDNESDAY_15_UTC + timedelta(
        hours=1
    )
    # The task says 10:00 in Tokyo, the person 11:00: every window narrows, none widens.
    tokyo_eleven = datetime(2026, 3, 5, 2, tzinfo=UTC)  # Thursday 11:00 in Tokyo
    assert (await get_task(sessions, by_task)).next_action_time == tokyo_eleven


async def test_capacity_priority_and_stopped_campaigns(sessions: Sessions) -> None:
    user = await make_user(sessions)
    async with sessions() as s, s.begin():
        stopped = await campaigns.create(
            s, user_id=user.id, name="stopped", status=CampaignStatus.CANCELLED
        )
        met = await campaigns.create(s, user_id=user.id, name="met", stop_after_successes=1)
    low = [await add_task(sessions, user.id, NEW_YORK) for _ in range(3)]
    high = [await add_task(sessions, user.id, NEW_YORK, priority=5) for _ in range(2)]
    cancelled = await add_task(sessions, user.id, NEW_YORK, campaign_id=stopped.id, priority=9)
    winner = await add_task(sessions, user.id, NEW_YORK, campaign_id=met.id, priority=9)
    rest = await add_task(sessions, user.id, NEW_YORK, campaign_id=met.id, priority=9)
    async with sessions() as s, s.begin():
        row = await get_task(sessions, winner)
        s.add(row)
        await task_events.move(s, row, TaskStatus.SUCCEEDED, actor=TaskActor.SYSTEM)
    launcher = FakeLauncher(slots=3)
    service = scheduler(sessions, launcher, FakeClock(WEDNESDAY_15_UTC), ALWAYS)
    launched = await service.tick()
    assert [c.task_id for c in launched] == [high[0].id, high[1].id, low[0].id]
    assert (await get_task(sessions, cancelled)).status == TaskStatus.CANCELLED
    assert (await get_task(sessions, rest)).status == TaskStatus.GOAL_MET_ELSEWHERE
    assert await service.tick() == []  # full
    await launcher.finish(high[0].id, report("busy"))
    assert [c.task_id for c in await service.tick()] == [low[1].id]
    assert done[-1][0].task_id == high[0].id
    assert high[0].id not in service.in_flight


async def test_leases_of_running_calls_are_renewed(sessions: Sessions) -> None:
    user = await make_user(sessions)
    task = await add_task(sessions, user.id, NEW_YORK)
    clock = FakeClock(WEDNESDAY_15_UTC)
    service = scheduler(sessions, FakeLauncher(), clock, ALWAYS)
    await service.tick()
    clock.advance(timedelta(minutes=1))
    await service.tick()
    row = await get_task(sessions, task)
    assert row.lease_expires_at == WEDNESDAY_15_UTC + timedelta(minutes=3)
    assert row.status == TaskStatus.IN_PROGRESS


async def test_users_take_turns_within_a_priority(sessions: Sessions) -> None:
    """Issue 13: priority was unbounded across tenants and one user's tasks took every slot;
    now, within a priority, each user's most urgent task goes before anyone's second."""
    busy_user, other = await make_user(sessions), await make_user(sessions)
    for n in range(8):
        await add_task(sessions, busy_user.id, f"+1212555{1000 + n}")
    late = await add_task(sessions, other.id, "+12125559999")
    launcher = FakeLauncher(slots=2)
    await scheduler(sessions, launcher, FakeClock(WEDNESDAY_15_UTC), CallingSettings()).tick()
    assert {c.user_id for c in launcher.launched} == {busy_user.id, other.id}
    assert late.id in {c.task_id for c in launcher.launched}


async def test_per_user_limits_on_calls_at_once_and_per_day(sessions: Sessions) -> None:
    user, other = await make_user(sessions), await make_user(sessions)
    for n in range(4):
        await add_task(sessions, user.id, f"+1212555{2000 + n}")
    await add_task(sessions, other.id, "+12125558888")
    capped = CallingSettings(max_calls_per_user=2)
    launcher = FakeLauncher(slots=10)
    clock = FakeClock(WEDNESDAY_15_UTC)
    await scheduler(sessions, launcher, clock, capped).tick()
    per_user = [c.user_id for c in launcher.launched]
    assert (per_user.count(user.id), per_user.count(other.id)) == (2, 1)

    daily = CallingSettings(max_calls_per_user_per_day=3)
    async with sessions() as s, s.begin():
        for n in range(3):
            await calls.create_dialing(s, user_id=other.id, call_id=f"day-{n}",
                                       phone_number="+12125558888")  # fmt: skip
    third = await add_task(sessions, other.id, "+12125557777")
    launcher = FakeLauncher(slots=10)
    await scheduler(sessions, launcher, clock, daily).tick()
    assert third.id not in {c.task_id for c in launcher.launched}
    row = await get_task(sessions, third)
    assert row.status == TaskStatus.PENDING
    assert row.last_decision_reason == "waiting: 3 calls in 24 hours is the most allowed"
    assert row.next_action_time is not None
    assert row.next_action_time > WEDNESDAY_15_UTC
