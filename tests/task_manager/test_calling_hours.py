"""Calling hours: the callee's zones from the number, the conservative multi-zone rule,
and next_allowed's two promises (the answer is allowed; nothing earlier is)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from task_manager.calling_hours import (
    CallingWindow,
    WindowOverride,
    is_allowed,
    next_allowed,
    override_from_dict,
    override_to_dict,
    resolve_window,
    zones_for_number,
)
from tests.task_manager.helpers import LONDON, LOS_ANGELES, NEW_YORK

WEEKDAYS = CallingWindow(time(9), time(20), frozenset(range(5)))
NUMBERS = [NEW_YORK, LOS_ANGELES, LONDON, "+61412345678", "+79161234567", "+4915112345678",
           "+18085550100", "+5511987654321", "+919812345678"]  # fmt: skip


def test_zones_come_from_the_number() -> None:
    assert zones_for_number(NEW_YORK) == (ZoneInfo("America/New_York"),)
    assert zones_for_number(LONDON) == (ZoneInfo("Europe/London"),)
    assert len(zones_for_number("+79161234567")) > 5  # a Russian mobile: many zones
    assert zones_for_number("+15555550100", "Europe/Paris") == (ZoneInfo("Europe/Paris"),)


def test_inside_the_window_is_now_and_outside_is_the_next_local_opening() -> None:
    wednesday_13_utc = datetime(2026, 3, 4, 13, 0, tzinfo=UTC)  # 08:00 in New York
    zones = zones_for_number(NEW_YORK)
    assert next_allowed(wednesday_13_utc, zones, WEEKDAYS) == datetime(2026, 3, 4, 14, tzinfo=UTC)
    inside = datetime(2026, 3, 4, 15, tzinfo=UTC)
    assert next_allowed(inside, zones, WEEKDAYS) == inside
    friday_night = datetime(2026, 3, 7, 2, tzinfo=UTC)  # Friday 21:00 in New York
    assert next_allowed(friday_night, zones, WEEKDAYS) == datetime(2026, 3, 9, 13, tzinfo=UTC)


def test_a_number_spanning_zones_is_allowed_only_where_every_zone_is() -> None:
    """Perth is UTC+8 and Sydney UTC+11 in March: 09:00 in Perth is 12:00 in Sydney."""
    zones = (ZoneInfo("Australia/Perth"), ZoneInfo("Australia/Sydney"))
    sydney_morning = datetime(2026, 3, 3, 23, tzinfo=UTC)  # Wed 10:00 Sydney, 07:00 Perth
    assert not is_allowed(sydney_morning, zones, WEEKDAYS)
    assert next_allowed(sydney_morning, zones, WEEKDAYS) == datetime(2026, 3, 4, 1, tzinfo=UTC)


def test_zones_with_no_common_hour_are_never_allowed() -> None:
    zones = (ZoneInfo("Asia/Tokyo"), ZoneInfo("America/New_York"))  # 14 h apart
    narrow = CallingWindow(time(9), time(12), frozenset(range(7)))
    assert next_allowed(datetime(2026, 3, 4, tzinfo=UTC), zones, narrow) is None


def test_overrides_only_narrow_the_operators_window_and_survive_json() -> None:
    """A person's, plan's or task's window never widens the operator's hours or days."""
    user = WindowOverride(start=time(8))  # earlier than the operator allows: ignored
    task = WindowOverride(end=time(17), days=frozenset({1, 2, 5}))  # Saturday: not allowed
    window = resolve_window(WEEKDAYS, user, None, task)
    assert window == CallingWindow(WEEKDAYS.start, time(17), frozenset({1, 2}))
    all_day = WindowOverride(start=time(0), end=time(23, 59), days=frozenset(range(7)))
    assert resolve_window(WEEKDAYS, all_day) == WEEKDAYS
    assert resolve_window(WEEKDAYS, WindowOverride(days=frozenset({5, 6}))) is None
    assert resolve_window(WEEKDAYS, WindowOverride(start=time(21))) is None
    assert override_from_dict(override_to_dict(task)) == task
    assert override_from_dict({"start": "25:00"}) is None
    with pytest.raises(ValueError, match="start before"):
        CallingWindow(time(10), time(9), frozenset({0}))


windows = st.builds(
    lambda start, length, days: CallingWindow(
        time(start // 60, start % 60),
        time(min(23 * 60 + 59, start + length) // 60, min(23 * 60 + 59, start + length) % 60),
        frozenset(days),
    ),
    st.integers(0, 22 * 60),
    st.integers(30, 14 * 60),
    st.sets(st.integers(0, 6), min_size=1),
)
moments = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
)


@settings(max_examples=300, deadline=None)
@given(moments, st.sampled_from(NUMBERS), windows)
def test_next_allowed_is_allowed_and_nothing_earlier_is(
    now: datetime, number: str, window: CallingWindow
) -> None:
    zones = zones_for_number(number)
    found = next_allowed(now, zones, window)
    if found is None:  # then no sampled moment of the coming fortnight is allowed either
        assert not any(
            is_allowed(now + timedelta(minutes=m), zones, window) for m in range(0, 20160, 30)
        )
        return
    assert found >= now
    assert is_allowed(found, zones, window)
    for local_zone in zones:
        local = found.astimezone(local_zone)
        assert local.weekday() in window.days
        assert window.start <= local.time() < window.end
    if found > now:
        step = (found - now) / 50
        assert not any(is_allowed(now + step * i, zones, window) for i in range(50))
        assert not is_allowed(found - timedelta(minutes=1), zones, window) or (
            found - timedelta(minutes=1) < now
        )
