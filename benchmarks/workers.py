"""Pure: how a level's calls are spread over the workers, and how their numbers add up.

Each worker originates its own calls (its scheduler claims tasks against the limit the
workers share in Redis), and every Originate tells Asterisk to connect the answered call
back to the originating worker's AudioSocket port (docs/architecture.md, "Workers on one
box"). With the workers racing for the same tasks, each places about 1/N of them; so the
benchmark gives worker i every N-th call and the load generator dials each call on its
worker's port, interleaved so the 20 ms phase slots mix the workers as real calls would.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

SUMMED = ("attached", "cpu_cores", "rss_mb", "inbound_dropped", "commands_delivered")
PER_CALL = ("cpu_ms_per_call_second", "rss_kb_per_call")  # weighted by calls attached
LATENCIES = ("inbound_latency_ms", "inbound_processing_ms", "command_latency_ms", "loop_lag_ms")
COUNTED = ("end_reasons", "bridge_outcomes")


def split_calls(n: int, workers: int) -> list[int]:
    """How many of `n` calls each worker places: as even as whole calls allow."""
    if workers < 1:
        raise ValueError("at least one worker")
    return [n // workers + (1 if i < n % workers else 0) for i in range(workers)]


def spread(call_ids: Sequence[Sequence[str]], ports: Sequence[int]) -> list[tuple[int, str]]:
    """(port, call id) for every call, worker by worker in turn: worker i's calls go to
    `ports[i]`, and consecutive calls belong to different workers."""
    if len(call_ids) != len(ports):
        raise ValueError("one list of calls per worker port")
    longest = max((len(ids) for ids in call_ids), default=0)
    return [
        (port, ids[k])
        for k in range(longest)
        for port, ids in zip(ports, call_ids, strict=True)
        if k < len(ids)
    ]


def common_window(windows: Sequence[Sequence[float]]) -> list[float]:
    """The span every worker measured in (each measures its own, started together)."""
    return [max(w[0] for w in windows), min(w[1] for w in windows)]


def merge(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The box as one platform: totals summed, per-call figures weighted by each worker's
    calls, latency percentiles the worst worker's (a percentile of the union cannot be
    rebuilt from the parts; the worst part bounds it from above). One part is returned
    as it is."""
    if len(parts) == 1:
        return dict(parts[0])
    calls = [p["attached"] for p in parts]
    total = max(1, sum(calls))
    merged: dict[str, Any] = {k: _sum(p[k] for p in parts) for k in SUMMED}
    for key in PER_CALL:
        merged[key] = round(sum(p[key] * c for p, c in zip(parts, calls, strict=True)) / total, 3)
    for key in LATENCIES:
        merged[key] = _worst([p[key] for p in parts])
    for key in COUNTED:
        merged[key] = dict(sum((Counter(p[key]) for p in parts), Counter()))
    merged["window"] = common_window([p["window"] for p in parts])
    if all("gc" in p for p in parts):  # the longest pause of any worker, collections summed
        counts = zip(*(p["gc"]["collections"] for p in parts), strict=True)
        longest = zip(*(p["gc"]["longest_ms"] for p in parts), strict=True)
        merged["gc"] = {
            "collections": [sum(c) for c in counts],
            "longest_ms": [max(m) for m in longest],
        }
    merged["sessions_active"] = sum(p["sessions_active"] for p in parts)
    return merged


def _sum(values: Any) -> float:
    return round(sum(values), 3)


def _worst(summaries: Sequence[dict[str, float]]) -> dict[str, float]:
    worst = {k: max(s[k] for s in summaries) for k in ("p50", "p99", "max")}
    return {**worst, "count": sum(s["count"] for s in summaries)}
