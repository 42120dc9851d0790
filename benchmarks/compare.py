"""Pure: this tree against an older revision, level by level, as ratios (new / old).

Why ratios: absolute times drift on a shared machine from one run to the next, so the two
trees are measured in the same invocation, alternating per level (benchmarks/run.py), and
only their quotient is compared. A ratio below 1 means this tree needs less. CPU per
call-second is only comparable where both sides kept up: a saturated loop does less work
per call (it drops frames), so the overall figure is a geometric mean over the levels both
sustained.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

HEADER = (
    "| workers | N | wire | CPU per call-second, new / old | RSS per call, new / old "
    "| p99 spacing error (ms) or underruns, old → new | sustained old / new |"
)


def ratio(new: float, old: float) -> float | None:
    """new / old, or None when old is not a positive number (nothing to divide by)."""
    if old <= 0:
        return None
    return round(new / old, 3)


def level_ratios(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """One level measured on both trees: what changed, and by how much."""
    po, pn = old["platform"], new["platform"]
    return {
        "workers": new["workers"],
        "n": new["n"],
        "wire": _wire(new),
        "cpu_per_call_second": ratio(pn["cpu_ms_per_call_second"], po["cpu_ms_per_call_second"]),
        "rss_per_call": ratio(pn["rss_kb_per_call"], po["rss_kb_per_call"]),
        "pacing": {"old": _pacing(old), "new": _pacing(new)},
        "sustained": {"old": old["passed"], "new": new["passed"]},
    }


def _pacing(level: dict[str, Any]) -> float:
    """The pacing figure of the wire: p99 spacing error on AudioSocket (we keep the clock),
    underruns on the media WebSocket (Asterisk keeps it, benchmarks/playout.py)."""
    spacing = level["loadgen"]["spacing"]
    if spacing is None:
        return float(level["loadgen"]["playout"]["underruns"])
    return float(spacing["error_ms"]["p99"])


def _wire(level: dict[str, Any]) -> str:
    return str(level.get("wire", "audiosocket"))  # results from before the wire was recorded


def _keyed(levels: Sequence[dict[str, Any]]) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    """Each level keyed by workers, N, wire and which repeat of them it is: a level asked
    for twice (--levels 100,100) is measured twice on each side, and pairs in order."""
    seen: dict[tuple[Any, ...], int] = {}
    keyed = []
    for lv in levels:
        key = (lv["workers"], lv["n"], _wire(lv))
        seen[key] = seen.get(key, 0) + 1
        keyed.append(((*key, seen[key]), lv))
    return keyed


def pair(old: Sequence[dict[str, Any]], new: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The levels measured on both sides (same workers, N and wire), in this tree's order."""
    by_key = dict(_keyed(old))
    return [level_ratios(by_key[key], lv) for key, lv in _keyed(new) if key in by_key]


def geometric_mean(values: Sequence[float | None]) -> float | None:
    """Of the ratios there are; None when there are none."""
    present = [v for v in values if v is not None and v > 0]
    if not present:
        return None
    return round(math.exp(sum(math.log(v) for v in present) / len(present)), 3)


def summary(rows: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    """Geometric means over the levels both trees sustained."""
    both = [r for r in rows if r["sustained"]["old"] and r["sustained"]["new"]]
    return {
        "levels": len(both),
        "cpu_per_call_second": geometric_mean([r["cpu_per_call_second"] for r in both]),
        "rss_per_call": geometric_mean([r["rss_per_call"] for r in both]),
    }


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _yes(flag: bool) -> str:
    return "yes" if flag else "**no**"


def markdown(part: dict[str, Any]) -> list[str]:
    """The comparison section of latest.md."""
    lines = [
        f"Against {part['rev']} ({part['commit'][:10]} {part['subject']}), measured in the "
        f"same run, old and new alternating per level (ratios new / old; below 1 is better):",
        "",
        HEADER,
        "|" + "---|" * (HEADER.count(" | ") + 1),
    ]
    for r in part["rows"]:
        err = r["pacing"]
        sustained = r["sustained"]
        shown = (
            "{:.2f} → {:.2f}"
            if r.get("wire", "audiosocket") == "audiosocket"
            else "{:.0f} → {:.0f}"
        )
        lines.append(
            f"| {r['workers']} | {r['n']} | {r.get('wire', 'audiosocket')} "
            f"| {_x(r['cpu_per_call_second'])} "
            f"| {_x(r['rss_per_call'])} | {shown.format(err['old'], err['new'])} "
            f"| {_yes(sustained['old'])} / {_yes(sustained['new'])} |"
        )
    s = part["summary"]
    lines += [
        "",
        f"Over the {s['levels']} levels both sustained (geometric mean): CPU per call-second "
        f"{_x(s['cpu_per_call_second'])}, RSS per call {_x(s['rss_per_call'])}.",
    ]
    return lines


WIRES_HEADER = (
    "| workers | N | CPU per call-second, websocket / audiosocket "
    "| RSS per call, websocket / audiosocket | sustained audiosocket / websocket |"
)


def wire_pair(levels: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """This tree's levels measured on both wires (same workers and N): websocket / audiosocket.
    Why: AudioSocket costs us 50 paced writes per call-second, the WebSocket wire a few
    chunks, so the ratio is what moving placed calls to chan_websocket saves."""
    audiosocket = {
        (lv["workers"], lv["n"]): lv
        for lv in levels
        if lv.get("wire", "audiosocket") == "audiosocket"
    }
    rows = []
    for ws in (lv for lv in levels if lv.get("wire") == "websocket"):
        base = audiosocket.get((ws["workers"], ws["n"]))
        if base is None:
            continue
        pw, pa = ws["platform"], base["platform"]
        rows.append({
            "workers": ws["workers"],
            "n": ws["n"],
            "cpu_per_call_second": ratio(
                pw["cpu_ms_per_call_second"], pa["cpu_ms_per_call_second"]
            ),
            "rss_per_call": ratio(pw["rss_kb_per_call"], pa["rss_kb_per_call"]),
            "sustained": {"audiosocket": base["passed"], "websocket": ws["passed"]},
        })  # fmt: skip
    return rows


def wires_markdown(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The small table of websocket / audiosocket at the same N and workers."""
    lines = [
        "websocket / audiosocket at the same N and workers (this tree; below 1: the "
        "WebSocket wire needs less):",
        "",
        WIRES_HEADER,
        "|" + "---|" * (WIRES_HEADER.count(" | ") + 1),
    ]
    for r in rows:
        both = r["sustained"]
        lines.append(
            f"| {r['workers']} | {r['n']} | {_x(r['cpu_per_call_second'])} "
            f"| {_x(r['rss_per_call'])} | {_yes(both['audiosocket'])} / {_yes(both['websocket'])} |"
        )
    return lines
