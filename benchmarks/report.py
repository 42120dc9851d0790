"""The results as a markdown table (README quotes it) and one progress line per level."""

from __future__ import annotations

from typing import Any

from benchmarks import compare
from benchmarks.verdict import wire

CALL_HEADER = (
    "| workers | N | wire | sustained | platform CPU (cores) | CPU ms per call-second "
    "| RSS per call (KiB) | inbound p50 / p99 (ms) | outbound gap p50 / p99 / max (ms) "
    "| p99 spacing error (ms) "
    "| late frames | dropped frames | loop lag p99 (ms) "
    "| underruns / lead p50 / min (ms) / messages per call-s "
    "| model / loadgen / machine cores |"
)
LEGEND = (
    "Sustained: on AudioSocket (we pace every 20 ms frame) p99 spacing error < 5 ms, no frame "
    "late or dropped; on the media WebSocket (Asterisk paces and queues what we send ahead; "
    "the load generator emulates its queue, benchmarks/playout.py) no underrun (a reply "
    "that ran dry because its next audio came late), no inbound frame dropped and the "
    "platform's loop lag p99 < 20 ms (one frame: the tick that counts what the callee has "
    "heard stays within a frame of Asterisk's clock). Spacing columns mean nothing on the "
    "WebSocket wire (-); "
    "lead: how much audio was still queued ahead of playout when a chunk of a reply arrived."
)


def level_line(level: dict[str, Any]) -> str:
    p, load = level["platform"], level["loadgen"]
    if wire(level) == "websocket":
        play = load["playout"]
        pace = (
            f"underruns={play['underruns']} lead p50/min={play['lead_ms']['p50']}/"
            f"{play['lead_ms']['min']} ms msgs/call-s={play['messages_per_call_second']} "
            f"lag p99={p['loop_lag_ms']['p99']}"
        )
    else:
        out = load["spacing"]
        pace = (
            f"gap p99={out['gap_ms']['p99']} err p99={out['error_ms']['p99']} "
            f"late={out['late_frames']} dropped={out['dropped_frames']}"
        )
    return (
        f"{level['tree']} {_workers(level['workers'])} N={level['n']} {wire(level)} "
        f"passed={level['passed']} cpu={_platform_cores(level)} cores "
        f"({p['cpu_ms_per_call_second']} ms/call-s) rss/call={p['rss_kb_per_call']} KiB "
        f"in p99={p['inbound_latency_ms']['p99']} ms {pace} "
        f"machine={level['machine_busy_cores']}{_gc(p)}"
    )


def _gc(platform: dict[str, Any]) -> str:
    """The full collections in the window and the longest pause of each generation."""
    if "gc" not in platform:
        return ""
    gc = platform["gc"]
    longest = "/".join(f"{ms:g}" for ms in gc["longest_ms"])
    return f" gc2={gc['collections'][2]} gc max ms (0/1/2)={longest}"


def _workers(count: int) -> str:
    return "1 worker" if count == 1 else f"{count} workers"


def _platform_cores(level: dict[str, Any]) -> str:
    """The box's platform cores; with several workers, the sum and each worker's share."""
    total = f"{level['platform']['cpu_cores']:.2f}"
    parts = level.get("platforms") or []
    if len(parts) < 2:
        return total
    each = " + ".join(f"{part['cpu_cores']:.2f}" for part in parts)
    return f"{total} ({each})"


def _row(level: dict[str, Any]) -> str:
    p = level["platform"]
    inbound = p["inbound_latency_ms"]
    cells = [
        _workers(level.get("workers", 1)),  # results from before --workers: one process
        str(level["n"]),
        wire(level),
        "yes" if level["passed"] else "**no**",
        _platform_cores(level),
        f"{p['cpu_ms_per_call_second']:.2f}",
        f"{p['rss_kb_per_call']:.0f}",
        f"{inbound['p50']:.1f} / {inbound['p99']:.1f}",
        *_pacing_cells(level),
        f"{p['loop_lag_ms']['p99']:.1f}",
        _playout_cell(level),
        f"{level['model_cpu_cores']:.2f} / {level['loadgen_cpu_cores']:.2f} / "
        f"{level['machine_busy_cores']:.2f}",
    ]
    return "| " + " | ".join(cells) + " |"


def _pacing_cells(level: dict[str, Any]) -> list[str]:
    """Gap, spacing error, late and dropped frames: AudioSocket's; absent (-) on the
    WebSocket wire but for the frames the platform dropped inbound."""
    inbound_dropped = level["platform"]["inbound_dropped"]
    out = level["loadgen"].get("spacing")
    if wire(level) == "websocket" or out is None:
        return ["-", "-", "-", str(inbound_dropped)]
    gap = out["gap_ms"]
    return [
        f"{gap['p50']:.1f} / {gap['p99']:.1f} / {gap['max']:.1f}",
        f"{out['error_ms']['p99']:.2f}",
        str(out["late_frames"]),
        str(out["dropped_frames"] + inbound_dropped),
    ]


def _playout_cell(level: dict[str, Any]) -> str:
    if wire(level) != "websocket":
        return "-"
    play = level["loadgen"]["playout"]
    lead = play["lead_ms"]
    return (
        f"{play['underruns']} / {lead['p50']:.0f} / {lead['min']:.0f} / "
        f"{play['messages_per_call_second']:.2f}"
    )


SCHEDULER_HEADER = (
    "| backend | waiting tasks (due) | users / campaigns | claim of 50: p50 / p99 / max (ms) "
    "| claims timed | tick, 50 calls launched: p50 / p99 / max (ms) | ticks timed "
    "| load avg (1 min) |"
)


def _ms(part: dict[str, Any]) -> str:
    ms = part["ms"]
    return f"{ms['p50']:.1f} / {ms['p99']:.1f} / {ms['max']:.1f}"


def scheduler_line(row: dict[str, Any]) -> str:
    return (
        f"{row['backend']} {row['pending']:,} waiting: claim {_ms(row['claim'])} ms, "
        f"tick {_ms(row['tick'])} ms (p50 / p99 / max), filled in {row['fill_s']} s, "
        f"load {row['claim']['load_avg']} → {row['tick']['load_avg']}"
    )


def _scheduler(part: dict[str, Any]) -> list[str]:
    m = part["machine"]
    rows = [
        f"Scheduler: {m['cores']} cores, {m['cpu_model']}, {part['started']}; "
        f"batches of {part['batch']}; the data: benchmarks/scheduler_data.py.",
        "",
        SCHEDULER_HEADER,
        "|" + "---|" * (SCHEDULER_HEADER.count(" | ") + 1),
    ]
    for r in part["rows"]:
        claim, tick = r["claim"], r["tick"]
        loads = [*claim["load_avg"], *tick["load_avg"]]
        rows.append(
            f"| {r['backend']} | {r['pending']:,} ({r['due']:,}) "
            f"| {r['users']:,} / {r['campaigns']:,} | {_ms(claim)} | {claim['batches']} "
            f"| {_ms(tick)} | {tick['batches']} | {min(loads):.2f} to {max(loads):.2f} |"
        )
    return rows


def markdown(result: dict[str, Any]) -> str:
    lines: list[str] = []
    if "calls" in result:
        lines += _calls(result)
    if "compare" in result:
        lines += ["", *compare.markdown(result["compare"])]
    if result.get("wires"):
        lines += ["", *compare.wires_markdown(result["wires"])]
    if "scheduler" in result:
        lines += (
            ["", *_scheduler(result["scheduler"])] if lines else _scheduler(result["scheduler"])
        )
    return "\n".join(lines) + "\n"


def _calls(result: dict[str, Any]) -> list[str]:
    m = result["machine"]
    settings = result["settings"]
    bus = "Redis" if settings.get("redis") else "in-process"
    return [
        f"Machine: {m['cores']} cores, {m['cpu_model']}, Python {m['python']}, "
        f"load average {m['load_avg_before'][0]} before / {m['load_avg_after'][0]} after; "
        f"{result['started']}; event loop: {settings['loop']}; command bus and call slots: "
        f"{bus}; caller frames per model message: {settings.get('batch_frames') or 'default'}; "
        f"{settings['seconds']:.0f} s measured per level after "
        f"{settings['warmup']:.0f} s warm-up. Platform CPU is summed over the workers (each "
        f"worker's in brackets); the fake model, the load generator and the whole machine "
        f"(all processes) are in the last column: they share the same cores.",
        "",
        CALL_HEADER,
        "|" + "---|" * CALL_HEADER.count(" | ") + "---|",
        *(_row(level) for level in result["calls"]),
        "",
        LEGEND,
        "",
        *_sustained_lines(result),
    ]


def _sustained_lines(result: dict[str, Any]) -> list[str]:
    """AudioSocket's line when it was measured (older results: always), then WebSocket's."""
    lines = []
    if "sustained_n" in result:
        lines.append(sustained_line(result["sustained_n"]))
    if "sustained_n_websocket" in result:
        lines.append(sustained_line(result["sustained_n_websocket"], "websocket"))
    return lines


def sustained_line(sustained: dict[str, int] | int, on: str = "audiosocket") -> str:
    """Per worker count (older results: one number, one process)."""
    if isinstance(sustained, int):
        sustained = {"1": sustained}
    each = ", ".join(f"{_workers(int(w))} **{n}**" for w, n in sustained.items())
    if on == "websocket":
        bar = "no underrun, no inbound frame dropped, loop lag p99 < 20 ms"
        return (
            f"Largest N sustained, every smaller level too, on the media WebSocket ({bar}): {each}."
        )
    bar = "p99 spacing error < 5 ms, no frame late or dropped"
    return f"Largest N sustained, every smaller level too ({bar}): {each}."
