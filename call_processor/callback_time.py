"""When a callee asked to be called back, as an instant: the schedule_callback tool's `when`.

Why the model gives ISO 8601: it is told the callee's local date and time in its
instructions (audio_processing/call_brief.py), so it turns "after 3 pm tomorrow" into
`2026-12-09T15:00`, which is exact; free words are kept as words and leave the next
attempt to the usual backoff. A time without an offset is the callee's local time. Pure.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, tzinfo

MAX_WORDS = 200


def parse_callback_time(when: str, callee_zone: tzinfo, now: datetime) -> datetime | None:
    """The requested moment in UTC, or None for words, the past, or nonsense."""
    text = when.strip()[:MAX_WORDS]
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            moment = datetime.combine(date.fromisoformat(text), time(0, 0))
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=callee_zone)
    at = moment.astimezone(UTC)
    return at if at > now else None
