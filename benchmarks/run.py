"""`make bench`: calls per box, the latency the platform adds, and scheduler claims.

Three processes per load level, so each one's CPU is its own: the fake Realtime model
(kept for the whole run), the platform (fresh per level, so memory per call starts from
a clean baseline) and the load generator playing Asterisk. Writes
benchmarks/results/latest.json and latest.md and prints the table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks.children import Child, system_busy
from benchmarks.procstat import cpu_seconds, machine
from config.settings import OpenAISettings

RESULTS = Path(__file__).resolve().parent / "results"
LEVELS = (10, 50, 100, 200, 500, 1000)
SPACING_BOUND_MS = 5.0


def passed(level: dict[str, Any]) -> bool:
    """Sustained: every call attached and stayed up, p99 spacing error under 5 ms, no drop."""
    out = level["loadgen"]["spacing"]
    return (
        level["platform"]["attached"] == level["n"]
        and level["loadgen"]["closed_early"] == 0
        and level["loadgen"]["calls_without_frames"] == 0
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


async def run_level(n: int, model: Child, args: argparse.Namespace, logs: Path) -> dict[str, Any]:
    platform_cmd = ["-m", "benchmarks.platform_side", "--model-url", model.info["url"]]
    platform_cmd += ["--loop", args.loop, "--talker", args.talker]
    platform_cmd += ["--batch-frames", str(args.batch_frames)]
    if args.redis_url:
        platform_cmd += ["--redis-url", args.redis_url]
    if args.profile:
        spy = [str(Path(sys.executable).parent / "py-spy"), "record", "--nonblocking"]
        spy += ["--format", "raw", "--rate", "250", "-o", str(logs / f"profile-{n}.txt")]
        platform_cmd = [*spy, "--", sys.executable, *platform_cmd]
    else:
        platform_cmd = [sys.executable, *platform_cmd]
    platform = await Child.start("platform", platform_cmd, logs)
    loadgen = None
    try:
        prepared = await platform.ask({"cmd": "prepare", "n": n}, timeout=120 + n / 5)
        argv = [sys.executable, "-m", "benchmarks.loadgen"]
        loadgen = await Child.start("loadgen", argv, logs, ready=False)
        loadgen.send({"port": platform.info["port"], "call_ids": prepared["call_ids"]})
        connected = await loadgen.recv(timeout=60)
        measure = {"cmd": "measure", "warmup": args.warmup, "seconds": args.seconds}
        others = _OtherCpu(model.pid, loadgen.pid)
        watcher = asyncio.create_task(others.during(args.warmup + 0.5, args.seconds - 1.0))
        measured = await platform.ask(measure, timeout=args.warmup + args.seconds + 90)
        await watcher
        load = await loadgen.ask({"window": measured["window"]}, timeout=120)
        finished = await platform.ask({"cmd": "finish"}, timeout=60)
    finally:
        if loadgen is not None:
            await loadgen.close()
        await platform.close({"cmd": "quit"})
    level = {
        "n": n,
        "prepare": {k: v for k, v in prepared.items() if k != "call_ids"},
        "connected": connected["connected"],
        "platform": {**measured, **finished},
        "loadgen": load,
        "model_cpu_cores": others.cores[0],
        "loadgen_cpu_cores": others.cores[1],
        "machine_busy_cores": others.busy,
    }
    level["passed"] = passed(level)
    return level


class _OtherCpu:
    """CPU of the other processes and of the whole machine over (most of) the window."""

    def __init__(self, *pids: int) -> None:
        self.pids = pids
        self.cores = [0.0 for _ in pids]
        self.busy = 0.0

    async def during(self, delay: float, seconds: float) -> None:
        await asyncio.sleep(delay)
        before = [cpu_seconds(p) for p in self.pids]
        machine_before = system_busy()
        await asyncio.sleep(seconds)
        after = [cpu_seconds(p) for p in self.pids]
        self.cores = [round((a - b) / seconds, 3) for a, b in zip(after, before, strict=True)]
        self.busy = round((system_busy() - machine_before) / seconds, 2)


async def run_calls(args: argparse.Namespace, logs: Path) -> list[dict[str, Any]]:
    argv = [sys.executable, "-m", "benchmarks.fake_model", "--uvloop"]
    model = await Child.start("model", argv, logs)
    model.info["url"] = f"http://127.0.0.1:{model.info['port']}/v1"
    levels: list[dict[str, Any]] = []
    try:
        for n in args.levels:
            print(f"level N={n} ...", file=sys.stderr, flush=True)
            level = await run_level(n, model, args, logs)
            levels.append(level)
            print(report.level_line(level), file=sys.stderr, flush=True)
            if clearly_failed(level):
                print(f"N={n} clearly fails; stopping here", file=sys.stderr, flush=True)
                break
    finally:
        await model.close()
    return levels


async def run_scheduler(args: argparse.Namespace) -> dict[str, Any]:
    """Per backlog size: SQLite (up to --sqlite-max-pending), then PostgreSQL."""
    from benchmarks import scheduler

    part: dict[str, Any] = {"machine": machine(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    part["batch"], rows = args.batch, []
    for pending in args.pending:
        kw = {"pending": pending, "batch": args.batch, "batches": args.batches}
        runs = []
        if pending <= args.sqlite_max_pending:
            runs.append(("sqlite", scheduler.bench_sqlite(**kw)))
        if args.postgres_url:
            runs.append(("postgresql", scheduler.bench_postgres(args.postgres_url, **kw)))
        for backend, measured in runs:
            print(f"scheduler: {backend}, {pending:,} pending ...", file=sys.stderr, flush=True)
            rows.append({"backend": backend, **await measured})
            print(report.scheduler_line(rows[-1]), file=sys.stderr, flush=True)
    part["rows"] = rows
    return part


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",")]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--levels", type=_ints, default=list(LEVELS), help="e.g. 10,50,100")
    parser.add_argument("--seconds", type=float, default=15.0, help="measured window per level")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument(
        "--loop",
        choices=["asyncio", "uvloop"],
        default="uvloop",
        help="the platform's event loop (EVENT_LOOP)",
    )
    parser.add_argument(
        "--talker", choices=["bridge", "echo"], default="bridge",
        help="echo: no model, the AudioSocket side alone",
    )  # fmt: skip
    parser.add_argument("--redis-url", default=None, help="command bus on Redis (else in-process)")
    parser.add_argument(
        "--batch-frames", type=int,
        default=OpenAISettings.model_fields["input_batch_frames"].default,
        help="OPENAI_INPUT_BATCH_FRAMES for the platform (default: the setting's default)",
    )  # fmt: skip
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "POSTGRES_BENCH_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
        ),
        help="server for the scheduler benchmark ('' to skip PostgreSQL)",
    )
    parser.add_argument(
        "--pending", type=_ints, default=[100_000, 1_000_000],
        help="scheduler backlog sizes (waiting tasks), e.g. 100000,1000000",
    )  # fmt: skip
    parser.add_argument(
        "--sqlite-max-pending", type=int, default=1_000_000,
        help="largest backlog also measured on SQLite (bigger ones: PostgreSQL only)",
    )  # fmt: skip
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--batches", type=int, default=100, help="claims timed per measurement")
    parser.add_argument(
        "--only", choices=["calls", "scheduler"], default=None,
        help="run one part of the benchmark (default: both)",
    )  # fmt: skip
    parser.add_argument("--no-scheduler", action="store_true", help="same as --only calls")
    parser.add_argument("--profile", action="store_true", help="py-spy the platform per level")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--logs", type=Path, default=Path(tempfile.gettempdir()) / "opendeep-bench",
        help="children's stderr and --profile output",
    )  # fmt: skip
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    args.out.mkdir(parents=True, exist_ok=True)
    logs = args.logs
    logs.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"machine": machine(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    private = {"out", "logs", "postgres_url"}
    result["settings"] = {k: v for k, v in vars(args).items() if k not in private}
    if args.only != "scheduler":
        result["calls"] = await run_calls(args, logs)
        result["sustained_n"] = max((lv["n"] for lv in result["calls"] if lv["passed"]), default=0)
    if args.only != "calls" and not args.no_scheduler:
        result["scheduler"] = await run_scheduler(args)
    result["machine"]["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    return result


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    result = _keep_other_part(args, asyncio.run(run(args)))
    markdown = report.markdown(result)
    (args.out / "latest.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "latest.md").write_text(markdown)
    print(markdown)


def _keep_other_part(args: argparse.Namespace, result: dict[str, Any]) -> dict[str, Any]:
    """With --only, the part not run keeps its previous results in latest.json/md."""
    previous = args.out / "latest.json"
    if args.only is None or not previous.exists():
        return result
    old = json.loads(previous.read_text())
    if args.only == "scheduler":
        return {**old, "scheduler": result["scheduler"]} if "calls" in old else result
    return (
        {**result, "scheduler": old["scheduler"]} if "rows" in old.get("scheduler", {}) else result
    )


if __name__ == "__main__":
    main()
