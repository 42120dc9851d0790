"""When a callee may be called: their local time, from their number, inside a window.

Pure (no I/O). A number can span several time zones (mobile ranges, large countries);
then a moment is allowed only if it is inside the window in *every* zone, so nobody is
rung at 7 am because their area code also covers a zone where it is 9 am.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as number_zones

from database.profile import PreferredWindow

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HORIZON_DAYS = 15  # every weekly window recurs within this; longer means "never"
_UNKNOWN_ZONE = "Etc/Unknown"


def parse_days(text: str) -> frozenset[int]:
    """'mon,tue' → {0, 1} (Monday = 0, as datetime.weekday())."""
    names = [d.strip().lower() for d in text.split(",") if d.strip()]
    unknown = [n for n in names if n not in DAY_NAMES]
    if not names or unknown:
        raise ValueError("days must be a comma list of mon,tue,wed,thu,fri,sat,sun")
    return frozenset(DAY_NAMES.index(n) for n in names)


def format_days(days: Iterable[int]) -> str:
    return ",".join(DAY_NAMES[d] for d in sorted(days))


@dataclass(frozen=True, slots=True)
class CallingWindow:
    """Callee-local time of day [start, end) on the given weekdays."""

    start: time
    end: time
    days: frozenset[int]

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise ValueError("the calling window must start before it ends")
        if not self.days or not self.days <= frozenset(range(7)):
            raise ValueError("the calling window needs at least one weekday")

    def contains(self, local: datetime) -> bool:
        return local.weekday() in self.days and self.start <= local.time() < self.end


@dataclass(frozen=True, slots=True)
class WindowOverride:
    """A user's, campaign's or task's narrowing of the window; None keeps what is there."""

    start: time | None = None
    end: time | None = None
    days: frozenset[int] | None = None


def resolve_window(
    default: CallingWindow, *overrides: WindowOverride | None
) -> CallingWindow | None:
    """The operator's window (CALLING_HOURS_*, CALLING_DAYS) is the outer bound of every
    call: a person's, plan's or task's window can only narrow it, never widen it (a plan
    of 00:00-23:59 on every day still calls within the operator's hours). None when what
    is left is empty: no time to call at all."""
    start, end, days = default.start, default.end, default.days
    for override in overrides:
        if override is None:
            continue
        start = max(start, override.start) if override.start else start
        end = min(end, override.end) if override.end else end
        days = days & override.days if override.days else days
    if not start < end or not days:
        return None
    return replace(default, start=start, end=end, days=days)


@lru_cache(maxsize=4096)
def zones_for_number(number: str, fallback: str = "UTC") -> tuple[ZoneInfo, ...]:
    """The time zones phonenumbers knows for the number; `fallback` when it knows none."""
    try:
        names = number_zones.time_zones_for_number(phonenumbers.parse(number, None))
    except phonenumbers.NumberParseException:
        names = ()
    zones = tuple(_zone(n) for n in names if n != _UNKNOWN_ZONE)
    return tuple(z for z in zones if z is not None) or (ZoneInfo(fallback),)


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def is_allowed(now_utc: datetime, zones: Sequence[ZoneInfo], window: CallingWindow) -> bool:
    return all(window.contains(now_utc.astimezone(zone)) for zone in zones)


def next_allowed(
    now_utc: datetime, zones: Sequence[ZoneInfo], window: CallingWindow
) -> datetime | None:
    """`now_utc` if allowed now, else the earliest allowed moment after it; None = never.

    The allowed set is an intersection of per-zone intervals, so its earliest point is now
    or the moment some zone's interval opens: a window start, or a DST jump over the start.
    """
    now_utc = now_utc.astimezone(UTC)
    if is_allowed(now_utc, zones, window):
        return now_utc
    for candidate in sorted(_openings(now_utc, zones, window)):
        if candidate > now_utc and is_allowed(candidate, zones, window):
            return candidate
    return None


def _openings(now_utc: datetime, zones: Sequence[ZoneInfo], window: CallingWindow) -> set[datetime]:
    out: set[datetime] = set()
    for zone in zones:
        first = now_utc.astimezone(zone).date() - timedelta(days=1)
        for offset in range(HORIZON_DAYS + 1):
            day = first + timedelta(days=offset)
            if day.weekday() in window.days:
                out.add(_local_to_utc(day, window.start, zone))
            out.update(_offset_changes(day, zone))
    return out


def _local_to_utc(day: date, at: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def _offset_changes(day: date, zone: ZoneInfo) -> list[datetime]:
    """The DST transition inside this local day, to the minute (at most one per day)."""
    low = _local_to_utc(day, time(0), zone)
    high = low + timedelta(days=1)
    if low.astimezone(zone).utcoffset() == high.astimezone(zone).utcoffset():
        return []
    before = low.astimezone(zone).utcoffset()
    while high - low > timedelta(minutes=1):
        middle = low + (high - low) / 2
        middle = middle.replace(second=0, microsecond=0)
        if middle <= low:
            break
        if middle.astimezone(zone).utcoffset() == before:
            low = middle
        else:
            high = middle
    return [high]


def override_to_dict(override: WindowOverride) -> dict[str, str]:
    """JSON form stored in a task's inter_call_context or a user's profile."""
    out: dict[str, str] = {}
    if override.start is not None:
        out["start"] = override.start.strftime("%H:%M")
    if override.end is not None:
        out["end"] = override.end.strftime("%H:%M")
    if override.days is not None:
        out["days"] = format_days(override.days)
    return out


def override_from_dict(data: object) -> WindowOverride | None:
    """Tolerant reader: a malformed stored value means "no override", never a crash."""
    if not isinstance(data, dict):
        return None
    try:
        start = time.fromisoformat(data["start"]) if data.get("start") else None
        end = time.fromisoformat(data["end"]) if data.get("end") else None
        days = parse_days(data["days"]) if data.get("days") else None
    except (TypeError, ValueError):
        return None
    return WindowOverride(start=start, end=end, days=days)


def override_from_preferred(preferred: PreferredWindow | None) -> WindowOverride | None:
    """The person's own window from their profile (malformed days: no override)."""
    if preferred is None:
        return None
    try:
        days = parse_days(preferred.days) if preferred.days else None
    except ValueError:
        return None
    return WindowOverride(start=preferred.start, end=preferred.end, days=days)


def callee_zones(
    phone_number: str, task_window: object, fallback: str = "UTC"
) -> tuple[ZoneInfo, ...]:
    """The callee's time zones: the task's own (its stored window's `time_zone`), else
    those of the number."""
    zone = task_window.get("time_zone") if isinstance(task_window, dict) else None
    return (ZoneInfo(zone),) if zone else zones_for_number(phone_number, fallback)
