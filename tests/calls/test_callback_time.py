"""schedule_callback's `when`: ISO 8601 in the callee's zone becomes an instant; words do not."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from call_processor.callback_time import parse_callback_time

NEW_YORK = ZoneInfo("America/New_York")
NOW = datetime(2026, 12, 8, 15, 0, tzinfo=UTC)  # 10:00 in New York


def test_a_local_time_is_the_callees_local_time() -> None:
    at = parse_callback_time("2026-12-08T15:00", NEW_YORK, NOW)
    assert at == datetime(2026, 12, 8, 20, 0, tzinfo=UTC)


def test_an_offset_wins_over_the_callees_zone() -> None:
    assert parse_callback_time("2026-12-08T15:00+01:00", NEW_YORK, NOW) is None  # 14:00 UTC
    assert parse_callback_time("2026-12-09T15:00+01:00", NEW_YORK, NOW) == datetime(
        2026, 12, 9, 14, 0, tzinfo=UTC
    )


def test_a_date_alone_is_the_start_of_that_local_day() -> None:
    at = parse_callback_time("2026-12-10", NEW_YORK, NOW)
    assert at == datetime(2026, 12, 10, 5, 0, tzinfo=UTC)


@pytest.mark.parametrize("when", ["after 3 pm", "tomorrow", "", "2026-13-01", "2026-12-08T09:00"])
def test_words_nonsense_and_the_past_are_not_a_time(when: str) -> None:
    assert parse_callback_time(when, NEW_YORK, NOW) is None


@given(st.text(max_size=300))
def test_any_text_is_a_time_in_the_future_or_none(when: str) -> None:
    at = parse_callback_time(when, NEW_YORK, NOW)
    assert at is None or (at.tzinfo is UTC and at > NOW)
