"""The results as a markdown table (README quotes it) and one progress line per level."""

from __future__ import annotations

from typing import Any

from benchmarks import compare

CALL_HEADER = (
    "| workers | N | sustained | platform CPU (cores) | CPU ms per call-second "
    "| RSS per call (KiB) | inbound p50 / p99 (ms) | outbound gap p50 / p99 / max (ms) "
    "| p99 spacing error (ms) "
    "| late frames | dropped frames | loop lag p99 (ms) | model / loadgen / machine cores |"
)


def level_line(level: dict[str, Any]) -> str:
    p, out = level["platform"], level["loadgen"]["spacing"]
    return (
        f"{level['tree']} {_workers(level['workers'])} N={level['n']} passed={level['passed']} "
        f"cpu={_platform_cores(level)} cores "
        f"({p['cpu_ms_per_call_second']} ms/call-s) rss/call={p['rss_kb_per_call']} KiB "
        f"in p99={p['inbound_latency_ms']['p99']} ms gap p99={out['gap_ms']['p99']} "
        f"err p99={out['error_ms']['p99']} late={out['late_frames']} "
        f"dropped={out['dropped_frames']} machine={level['machine_busy_cores']}"
    )


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
    p, load = level["platform"], level["loadgen"]
    out = load["spacing"]
    inbound, gap = p["inbound_latency_ms"], out["gap_ms"]
    cells = [
        _workers(level.get("workers", 1)),  # results from before --workers: one process
        str(level["n"]),
        "yes" if level["passed"] else "**no**",
        _platform_cores(level),
        f"{p['cpu_ms_per_call_second']:.2f}",
        f"{p['rss_kb_per_call']:.0f}",
        f"{inbound['p50']:.1f} / {inbound['p99']:.1f}",
        f"{gap['p50']:.1f} / {gap['p99']:.1f} / {gap['max']:.1f}",
        f"{out['error_ms']['p99']:.2f}",
        str(out["late_frames"]),
        str(out["dropped_frames"] + p["inbound_dropped"]),
        f"{p['loop_lag_ms']['p99']:.1f}",
        f"{level['model_cpu_cores']:.2f} / {level['loadgen_cpu_cores']:.2f} / "
        f"{level['machine_busy_cores']:.2f}",
    ]
    return "| " + " | ".join(cells) + " |"


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
        sustained_line(result["sustained_n"]),
    ]


def sustained_line(sustained: dict[str, int] | int) -> str:
    """Per worker count (older results: one number, one process)."""
    if isinstance(sustained, int):
        sustained = {"1": sustained}
    each = ", ".join(f"{_workers(int(w))} **{n}**" for w, n in sustained.items())
    return f"Largest sustained N (p99 spacing error < 5 ms, no frame late or dropped): {each}."
