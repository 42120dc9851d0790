"""The issue's property: 1,000 tasks, 3 users, numbers in many time zones, DND entries and
attempt counts, a random clock. Whatever happens: no call outside the callee's local window
(checked in every zone phonenumbers gives, independently of calling_hours), no DND number
dialed, no task dialed twice at once, never more attempts than allowed."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
from phonenumbers import timezone as number_zones
from sqlalchemy import select

from call_processor.finished_call import FinishedCall
from config.settings import CallingSettings
from database.models import Task
from database.profile import Profile
from database.repositories import dnd, tasks
from task_manager.call_launcher import PlannedCall
from task_manager.post_call_analyzer import PostCallAnalyzer
from tests.task_manager.helpers import (
    FakeClock,
    FakeLauncher,
    Sessions,
    make_user,
    report,
    scheduler_on,
)

PREFIXES = ["+1212555", "+1415555", "+1312555", "+1808555", "+4420791", "+6129876",
            "+4915112", "+81312345", "+7916123", "+6141234", "+5511987"]  # fmt: skip
OUTCOMES = ["busy", "no_answer", "congestion", "failed", "ai_failure", "success",
            "callback_requested", "failure", "needs_user", "do_not_call"]  # fmt: skip
DEFAULT = CallingSettings()  # 09:00-20:00, weekdays
USER_WINDOWS = [None, {"start": "10:00", "end": "18:00"}, {"days": "mon,tue,wed,thu,fri,sat"}]
TASK_WINDOWS = [None, None, None, {"start": "13:00"}, {"end": "12:00", "days": "sat,sun"}]


def numbers(rng: random.Random, count: int) -> list[str]:
    out: list[str] = []
    while len(out) < count:
        prefix = rng.choice(PREFIXES)
        candidate = prefix + "".join(rng.choice("0123456789") for _ in range(12 - len(prefix) + 1))
        if phonenumbers.is_valid_number(phonenumbers.parse(candidate)):
            out.append(candidate)
    return out


def allowed_everywhere(at: datetime, number: str, window: dict[str, str | None]) -> bool:
    """Independent check: phonenumbers' zones, plain zoneinfo, the window as plain values."""
    start = time.fromisoformat(window["start"] or "09:00")
    end = time.fromisoformat(window["end"] or "20:00")
    days = (window["days"] or "mon,tue,wed,thu,fri").split(",")
    for name in number_zones.time_zones_for_number(phonenumbers.parse(number)):
        local = at.astimezone(ZoneInfo(name))
        if local.strftime("%a").lower() not in days or not start <= local.time() < end:
            return False
    return True


def effective(user_window: dict | None, task_window: dict | None) -> dict[str, str | None]:
    merged: dict[str, str | None] = {"start": None, "end": None, "days": None}
    for layer in (user_window or {}, task_window or {}):
        merged.update({k: v for k, v in layer.items() if v})
    return merged


@pytest.mark.parametrize("seed", [11])
async def test_no_call_outside_window_on_dnd_twice_at_once_or_above_max(
    sessions: Sessions, seed: int
) -> None:
    rng = random.Random(seed)
    pool = numbers(rng, 400)  # fewer numbers than tasks: shared numbers, shared DND
    people = [await make_user(sessions, profile=Profile.model_validate({"calling_window": w}))
              for w in USER_WINDOWS]  # fmt: skip
    windows: dict[int, dict[str, str | None]] = {}
    blocked: set[tuple[int | None, str]] = set()
    async with sessions() as s, s.begin():
        for number in rng.sample(pool, 25):
            owner = rng.choice([None, *[p.id for p in people]])
            await dnd.add(s, user_id=owner, phone_number=number)
            blocked.add((owner, number))
        for index, person in enumerate(people):
            plans = [rng.choice(TASK_WINDOWS) for _ in range(334 if index < 2 else 332)]
            rows = await tasks.create_many(s, user_id=person.id, campaign_id=None, tasks=[
                tasks.NewTask(
                    phone_number=rng.choice(pool), objective="o", priority=rng.randint(0, 3),
                    max_attempts=rng.randint(1, 4),
                    inter_call_context={"calling_window": w} if w else {},
                ) for w in plans
            ])  # fmt: skip
            for row, plan in zip(rows, plans, strict=True):
                windows[row.id] = effective(USER_WINDOWS[index], plan)
                if rng.random() < 0.3:  # some attempts already used, some all of them
                    row.attempt_count = rng.randint(0, row.max_attempts)
    async with sessions() as s:
        attempts = {t.id: t.attempt_count for t in await s.scalars(select(Task))}
        limits = {t.id: t.max_attempts for t in await s.scalars(select(Task))}
    assert len(windows) == 1000

    clock = FakeClock(datetime(2026, 3, 2, 3, rng.randint(0, 59), tzinfo=UTC))
    launcher = FakeLauncher(slots=30)
    analyzer = PostCallAnalyzer(sessions, clock=clock, rng=rng)
    scheduler = scheduler_on(
        sessions, launcher, clock, on_call_done=analyzer.on_call_done, calling=DEFAULT
    )
    launches = 0
    for _ in range(90):
        clock.advance(timedelta(minutes=rng.choice([1, 7, 30, 95, 240, 600])))
        for call in await scheduler.tick():
            launches += 1
            check_launch(call, clock.now, windows, blocked, attempts, limits)
        for task_id in rng.sample(sorted(launcher.active), k=(len(launcher.active) + 1) // 2):
            call, _ = launcher.active[task_id]
            outcome = rng.choice(OUTCOMES)
            await launcher.finish(task_id, as_report(outcome))
            if outcome == "do_not_call":
                blocked.add((call.user_id, call.phone_number))

    assert launches > 300  # the property was exercised, not vacuously true
    async with sessions() as s:
        final = list(await s.scalars(select(Task)))
    assert all(t.attempt_count <= t.max_attempts for t in final)
    assert {t.status for t in final} >= {"cancelled_dnd", "failed", "succeeded"}


def check_launch(
    call: PlannedCall,
    now: datetime,
    windows: dict[int, dict[str, str | None]],
    blocked: set[tuple[int | None, str]],
    attempts: dict[int, int],
    limits: dict[int, int],
) -> None:
    assert allowed_everywhere(now, call.phone_number, windows[call.task_id]), call
    assert (None, call.phone_number) not in blocked
    assert (call.user_id, call.phone_number) not in blocked
    attempts[call.task_id] += 1
    assert call.attempt_number == attempts[call.task_id] <= limits[call.task_id]


def as_report(outcome: str) -> FinishedCall:
    if outcome in {"busy", "no_answer", "congestion", "failed", "ai_failure"}:
        return report(outcome)
    return report("completed", agent_outcome=outcome)
