"""`make bench`: calls per box, the latency the platform adds, and scheduler claims.

Separate processes per load level, so each one's CPU is its own: the fake Realtime model
(kept for the whole run), the platform (fresh per level, so memory per call starts from
a clean baseline; one process per worker with `--workers`, benchmarks/box.py) and the load
generator playing Asterisk. With `--compare REV` (default HEAD~1: the last commit against
its parent, and for a merge on main the first parent, i.e. main before the merge) every
level is also measured on REV's platform in the same run, alternating which side goes
first, and the table gets new / old ratios (benchmarks/compare.py). With `--wire
audiosocket,websocket` every level is measured on each wire the load generator can speak
(the media port tells them apart, so the platform is the same), on the old tree too
where it has that wire, and a small table gives websocket / audiosocket at the same N and
workers. Writes
benchmarks/results/latest.json and latest.md (or --out) and prints the table.
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

from benchmarks import compare, old_tree, report
from benchmarks.box import Setup, Tree, run_level
from benchmarks.children import Child
from benchmarks.procstat import machine
from benchmarks.verdict import clearly_failed, largest_sustained
from config.settings import OpenAISettings

RESULTS = Path(__file__).resolve().parent / "results"
LEVELS = (10, 50, 100, 200, 500, 1000)
WORKERS = (1, 2)
WIRES = ("audiosocket", "websocket")
DEFAULT_REDIS = os.environ.get("REDIS_BENCH_URL", "redis://127.0.0.1:6379/0")


async def run_calls(args: argparse.Namespace, logs: Path, old: Tree | None) -> dict[str, Any]:
    """Level by level, every worker count (up to the first level this tree clearly fails
    with that count), and with `old` each on both trees (so every level has its pair), the
    first side alternating (old, new, new, old, ...): drift over the run hits the worker
    counts and the trees alike."""
    argv = [sys.executable, "-m", "benchmarks.fake_model", "--uvloop"]
    model = await Child.start("model", argv, logs)
    setup = Setup(
        model_url=f"http://127.0.0.1:{model.info['port']}/v1", model_pid=model.pid,
        loop=args.loop, talker=args.talker, batch_frames=args.batch_frames,
        redis_url=args.redis_url or None,
        warmup=args.warmup, seconds=args.seconds, profile=args.profile, logs=logs,
    )  # fmt: skip
    trees = [Tree("new"), *([old] if old else [])]
    measured: dict[str, list[dict[str, Any]]] = {t.name: [] for t in trees}
    running = [(workers, wire) for workers in args.workers for wire in args.wire]
    try:
        for i, n in enumerate(args.levels):
            for workers, wire in list(running):
                sides = [tree for tree in trees if tree.speaks(wire)]
                for tree in sides[::-1] if i % 2 == 0 else sides:
                    measured[tree.name].append(await _one_level(n, workers, tree, setup, wire))
                if clearly_failed(measured["new"][-1]):
                    print(f"N={n} clearly fails with {workers} worker(s), {wire}", file=sys.stderr)
                    running.remove((workers, wire))
            if not running:
                break
    finally:
        await model.close()
    return {name: by_workers(levels) for name, levels in measured.items()}


def by_workers(levels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The table's order: each worker count's levels together, smallest N first, AudioSocket
    before WebSocket at the same N."""
    return sorted(
        levels,
        key=lambda level: (level["workers"], level["n"], level.get("wire") == "websocket"),
    )


async def _one_level(
    n: int, workers: int, tree: Tree, setup: Setup, wire: str = "audiosocket"
) -> dict[str, Any]:
    print(f"level N={n}, {workers} worker(s), {wire}, {tree.name} ...", file=sys.stderr, flush=True)
    try:
        level = await run_level(n, workers, tree, setup, wire)
    except RuntimeError as exc:
        where = f"{tree.name} tree at {tree.root}" if tree.name != "new" else "this tree"
        raise RuntimeError(f"{exc} (the platform of {where}; logs in {setup.logs})") from exc
    print(report.level_line(level), file=sys.stderr, flush=True)
    return level


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


def _wires(text: str) -> list[str]:
    wires = [x.strip() for x in text.split(",") if x.strip()]
    unknown = [w for w in wires if w not in WIRES]
    if unknown or not wires:
        raise argparse.ArgumentTypeError(f"wires are {', '.join(WIRES)}; got {text!r}")
    return list(dict.fromkeys(wires))


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
    parser.add_argument(
        "--batch-frames", type=int, default=None,
        help="caller frames per model append (default: OPENAI_INPUT_BATCH_FRAMES's, "
        f"{OpenAISettings.model_fields['input_batch_frames'].default})",
    )  # fmt: skip
    parser.add_argument(
        "--workers", type=_ints, default=list(WORKERS),
        help="platform worker processes per row, as `main.py run --workers N`, e.g. 1,2",
    )  # fmt: skip
    parser.add_argument(
        "--wire", type=_wires, default=["audiosocket"],
        help="what the load generator speaks to the media port, per level: audiosocket, "
        "websocket (Asterisk's chan_websocket) or both, e.g. audiosocket,websocket",
    )  # fmt: skip
    parser.add_argument(
        "--redis-url", default=DEFAULT_REDIS,
        help="command bus and call slots the workers share (REDIS_BENCH_URL; '' for "
        "in-process, one worker only)",
    )  # fmt: skip
    parser.add_argument(
        "--compare", default="HEAD~1", metavar="REV",
        help="also measure REV's platform, alternating per level, and report new / old "
        "ratios ('' to skip; HEAD measures uncommitted changes)",
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
    args = parser.parse_args(argv)
    if max(args.workers) > 1 and not args.redis_url:
        parser.error(
            "--workers above 1 needs --redis-url: as `main.py run --workers N` refuses without "
            "REDIS_URL, the workers share the call limit and the command bus through Redis"
        )
    return args


async def run(args: argparse.Namespace) -> dict[str, Any]:
    args.out.mkdir(parents=True, exist_ok=True)
    logs = args.logs
    logs.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"machine": machine(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    private = {"out", "logs", "postgres_url", "redis_url"}
    result["settings"] = {k: v for k, v in vars(args).items() if k not in private}
    result["settings"]["redis"] = bool(args.redis_url)
    default_batch = OpenAISettings.model_fields["input_batch_frames"].default
    result["settings"]["batch_frames"] = args.batch_frames or default_batch
    if args.only != "scheduler":
        result.update(await _calls_part(args, logs))
    if args.only != "calls" and not args.no_scheduler:
        result["scheduler"] = await run_scheduler(args)
    result["machine"]["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    return result


async def _calls_part(args: argparse.Namespace, logs: Path) -> dict[str, Any]:
    """The calls table, and with --compare the same levels on REV's platform."""
    old = await asyncio.to_thread(old_tree.checkout, args.compare) if args.compare else None
    try:
        measured = await run_calls(args, logs, Tree("old", old.root) if old else None)
    finally:
        if old is not None:
            await asyncio.to_thread(old.remove)
    calls = measured["new"]
    part: dict[str, Any] = {"calls": calls}
    for wire in args.wire:
        key = "sustained_n" if wire == "audiosocket" else f"sustained_n_{wire}"
        part[key] = {str(w): largest_sustained(calls, w, wire) for w in args.workers}
    if len(args.wire) > 1:
        part["wires"] = compare.wire_pair(calls)
    if old is not None:
        rows = compare.pair(measured["old"], calls)
        part["compare"] = {
            "rev": old.rev, "commit": old.commit, "subject": old.subject,
            "old_calls": measured["old"], "rows": rows, "summary": compare.summary(rows),
        }  # fmt: skip
    return part


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
