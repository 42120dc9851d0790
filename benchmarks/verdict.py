"""Pure: whether a level was sustained, and whether it failed so clearly that bigger levels
would only measure a drowning machine."""

from __future__ import annotations

from typing import Any

SPACING_BOUND_MS = 5.0


def passed(level: dict[str, Any]) -> bool:
    """Sustained (README, Benchmarks): every call attached and stayed up, p99 spacing
    error under 5 ms, no frame late (a gap over 40 ms) and none dropped."""
    out = level["loadgen"]["spacing"]
    return (
        level["platform"]["attached"] == level["n"]
        and level["loadgen"]["closed_early"] == 0
        and level["loadgen"]["calls_without_frames"] == 0
        and out["late_frames"] == 0
        and out["dropped_frames"] == 0
        and level["platform"]["inbound_dropped"] == 0
        and out["error_ms"]["p99"] < SPACING_BOUND_MS
    )


def clearly_failed(level: dict[str, Any]) -> bool:
    """Far past the bound: a bigger level would only measure a drowning machine."""
    out = level["loadgen"]["spacing"]
    frames = max(1, out["frames"])
    return (
        out["error_ms"]["p99"] > 4 * SPACING_BOUND_MS
        or out["dropped_frames"] / frames > 0.005
        or level["platform"]["attached"] < level["n"]
    )


def largest_sustained(levels: list[dict[str, Any]], workers: int) -> int:
    """The largest N sustained with `workers` workers (0: none)."""
    return max((lv["n"] for lv in levels if lv["workers"] == workers and lv["passed"]), default=0)
