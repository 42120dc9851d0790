"""Pure: whether a level was sustained, and whether it failed so clearly that bigger levels
would only measure a drowning machine. Each wire has its own bar (README, Benchmarks)."""

from __future__ import annotations

from typing import Any

SPACING_BOUND_MS = 5.0
# websocket: Asterisk paces, so loop lag no longer makes the callee's frames late (what we
# send ahead covers it; underruns say when it did not). What it still delays is our own
# 20 ms tick, which counts what the callee has heard (truncation, turns stored as heard):
# the bar keeps that within one frame of Asterisk's clock.
LOOP_LAG_BOUND_MS = 20.0
CLEAR_FAIL_RATE = 0.005


def wire(level: dict[str, Any]) -> str:
    """Results from before --wire were all AudioSocket."""
    return str(level.get("wire", "audiosocket"))


def passed(level: dict[str, Any]) -> bool:
    """Sustained: every call attached, stayed up and heard the platform, nothing dropped
    inbound; then per wire (websocket_ok or spacing_ok)."""
    load = level["loadgen"]
    common = (
        level["platform"]["attached"] == level["n"]
        and load["closed_early"] == 0
        and load["calls_without_frames"] == 0
        and level["platform"]["inbound_dropped"] == 0
    )
    return bool(common) and (
        websocket_ok(level) if wire(level) == "websocket" else spacing_ok(level)
    )


def spacing_ok(level: dict[str, Any]) -> bool:
    """AudioSocket (we pace): p99 spacing error under 5 ms, no frame late (a gap over
    40 ms) and none dropped."""
    out = level["loadgen"]["spacing"]
    return bool(
        out["late_frames"] == 0
        and out["dropped_frames"] == 0
        and out["error_ms"]["p99"] < SPACING_BOUND_MS
    )


def websocket_ok(level: dict[str, Any]) -> bool:
    """Media WebSocket (Asterisk paces, benchmarks/playout.py): no underrun (no reply ran
    dry because its audio came late) and the platform's loop lag p99 under one frame."""
    return bool(
        level["loadgen"]["playout"]["underruns"] == 0
        and level["platform"]["loop_lag_ms"]["p99"] < LOOP_LAG_BOUND_MS
    )


def clearly_failed(level: dict[str, Any]) -> bool:
    """Far past the bound: a bigger level would only measure a drowning machine."""
    if level["platform"]["attached"] < level["n"]:
        return True
    if wire(level) == "websocket":
        play = level["loadgen"]["playout"]
        return bool(
            level["platform"]["loop_lag_ms"]["p99"] > 4 * LOOP_LAG_BOUND_MS
            or play["underruns"] / max(1, play["frames_played"]) > CLEAR_FAIL_RATE
        )
    out = level["loadgen"]["spacing"]
    frames = max(1, out["frames"])
    return bool(
        out["error_ms"]["p99"] > 4 * SPACING_BOUND_MS
        or out["dropped_frames"] / frames > CLEAR_FAIL_RATE
    )


def largest_sustained(levels: list[dict[str, Any]], workers: int, on: str = "audiosocket") -> int:
    """The largest N sustained with `workers` workers on wire `on`, every smaller level
    measured sustained too (0: none). Why every smaller one: a level that passes above one
    that failed is luck of the window (a stall that fell outside it), not capacity."""
    best = 0
    ours = [lv for lv in levels if lv["workers"] == workers and wire(lv) == on]
    for level in sorted(ours, key=lambda lv: lv["n"]):
        if not level["passed"]:
            break
        best = level["n"]
    return best
