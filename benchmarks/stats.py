"""Pure statistics for the benchmark: percentiles and frame-spacing analysis. No I/O."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

FRAME_S = 0.020
LATE_GAP_S = 0.040


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (0 for no values): what a reader computes by hand."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return float(ordered[rank - 1])


def summary_ms(values_s: Sequence[float]) -> dict[str, float]:
    """p50/p99/max in milliseconds of values given in seconds."""
    return {
        "p50": round(percentile(values_s, 50) * 1000, 3),
        "p99": round(percentile(values_s, 99) * 1000, 3),
        "max": round(max(values_s, default=0.0) * 1000, 3),
        "count": len(values_s),
    }


@dataclass
class Spacing:
    """Gaps between frames a call received; `dropped` counts 20 ms slots nothing filled."""

    gaps: list[float]
    frames: int
    late: int
    dropped: int


def spacing(arrivals: Sequence[float], start: float, end: float) -> Spacing:
    """Analyse one call's frame arrival times (seconds) inside [start, end].

    A frame is dropped when the span between the first and last arrival holds more 20 ms
    slots than frames arrived (the writer skipped them; a late burst that catches up
    still delivers every frame and is counted as late, not dropped).
    """
    inside = [t for t in arrivals if start <= t <= end]
    if len(inside) < 2:
        return Spacing([], len(inside), 0, 0)
    gaps = [b - a for a, b in itertools.pairwise(inside)]
    slots = round((inside[-1] - inside[0]) / FRAME_S) + 1
    return Spacing(
        gaps=gaps,
        frames=len(inside),
        late=sum(1 for g in gaps if g > LATE_GAP_S),
        dropped=max(0, slots - len(inside)),
    )


@dataclass
class SpacingReport:
    frames: int
    late_frames: int
    dropped_frames: int
    gap_ms: dict[str, float]
    error_ms: dict[str, float]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def spacing_report(per_call: Sequence[Spacing]) -> SpacingReport:
    """All calls together: gap and |gap - 20 ms| percentiles, late and dropped totals."""
    gaps = [g for s in per_call for g in s.gaps]
    return SpacingReport(
        frames=sum(s.frames for s in per_call),
        late_frames=sum(s.late for s in per_call),
        dropped_frames=sum(s.dropped for s in per_call),
        gap_ms=summary_ms(gaps),
        error_ms=summary_ms([abs(g - FRAME_S) for g in gaps]),
    )
