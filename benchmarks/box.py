"""One load level on one box: N calls on W platform workers, each its own process.

What `main.py run --workers W` runs, as faithfully as the benchmark can: W processes of
benchmarks/platform_side.py, worker i on AUDIOSOCKET_LISTEN_PORT + i with its own node id
(the supervisor's own `worker_env`), sharing the command bus and the call limit through
Redis (each call holds a slot in the shared sorted set, refreshed by its worker). The load
generator dials each call on the port of the worker that placed it (benchmarks/workers.py).

Why not drive the real supervisor: its workers are whole `main.py run` processes, and
their calls exist only once their own call initiator has originated them through AMI, so
the load would have to come from Asterisk (the shared sandbox, whose own CPU on these 2
cores would then be part of every number). What the supervisor adds around its workers
(a parent that waits on them, the web app and the scheduler in worker 0) costs nothing
per call; what a call costs is the platform each worker builds with `build_platform`,
which is what runs here. Each worker's CPU is read from its own /proc entry, the fake
model's and the load generator's too, so the table shows the platform's cores summed over
the workers next to the harness's own.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import workers as spread
from benchmarks.children import ROOT, Child, system_busy
from benchmarks.procstat import cpu_seconds
from benchmarks.verdict import passed


@dataclass(frozen=True)
class Tree:
    """The code a platform runs: this tree ("new") or a checked-out revision ("old")."""

    name: str
    root: Path = ROOT

    def speaks(self, wire: str) -> bool:
        """Whether this tree's media port takes `wire` (trees before chan_websocket do not)."""
        if wire == "websocket":
            return (self.root / "audio_processing" / "media_websocket_protocol.py").is_file()
        return True


@dataclass(frozen=True)
class Setup:
    """Everything about a level that is not N: the harness's options."""

    model_url: str
    model_pid: int
    loop: str
    talker: str
    batch_frames: int | None  # None: the product's OPENAI_INPUT_BATCH_FRAMES
    redis_url: str | None
    warmup: float
    seconds: float
    profile: bool
    logs: Path


async def run_level(
    n: int, workers: int, tree: Tree, setup: Setup, wire: str = "audiosocket"
) -> dict[str, Any]:
    """`wire`: what the load generator speaks to the media port (the platform tells the
    two apart by the first byte, so only the generator changes)."""
    ports = free_ports(workers)
    tag = f"{tree.name}-{workers}w-{n}" + ("" if wire == "audiosocket" else f"-{wire}")
    platforms: list[Child] = []
    loadgen = None
    try:
        for index in range(workers):
            argv = _platform_argv(setup, index, workers, ports[0], f"{tag}-{index}")
            platforms.append(
                await Child.start(f"platform-{tree.name}", argv, setup.logs, tree.root)
            )
        counts = spread.split_calls(n, workers)
        prepared = await _each(platforms, [{"cmd": "prepare", "n": c} for c in counts], 120 + n / 5)
        targets = spread.spread(
            [p["call_ids"] for p in prepared], [p.info["port"] for p in platforms]
        )
        loadgen = await Child.start(
            "loadgen",
            [sys.executable, "-m", "benchmarks.loadgen", "--wire", wire],
            setup.logs,
            ready=False,
        )
        loadgen.send({"targets": targets})
        connected = await loadgen.recv(timeout=60)
        measure = {"cmd": "measure", "warmup": setup.warmup, "seconds": setup.seconds}
        others = OtherCpu(setup.model_pid, loadgen.pid)
        watcher = asyncio.create_task(others.during(setup.warmup + 0.5, setup.seconds - 1.0))
        measured = await _each(platforms, [measure] * workers, setup.warmup + setup.seconds + 90)
        await watcher
        window = spread.common_window([m["window"] for m in measured])
        load = await loadgen.ask({"window": window}, timeout=120)
        finished = await _each(platforms, [{"cmd": "finish"}] * workers, 60)
    finally:
        if loadgen is not None:
            await loadgen.close()
        await asyncio.gather(*(p.close({"cmd": "quit"}) for p in platforms))
    parts = [{**m, **f} for m, f in zip(measured, finished, strict=True)]
    level = {
        "n": n,
        "workers": workers,
        "wire": wire,
        "tree": tree.name,
        "prepare": _prepare_summary(prepared),
        "connected": connected["connected"],
        "platform": spread.merge(parts),
        "platforms": parts if workers > 1 else [],
        "loadgen": load,
        "model_cpu_cores": others.cores[0],
        "loadgen_cpu_cores": others.cores[1],
        "machine_busy_cores": others.busy,
    }
    level["passed"] = passed(level)
    return level


def _platform_argv(setup: Setup, index: int, workers: int, base_port: int, tag: str) -> list[str]:
    argv = ["-m", "benchmarks.platform_side", "--model-url", setup.model_url]
    argv += ["--loop", setup.loop, "--talker", setup.talker]
    argv += ["--worker", str(index), "--workers", str(workers), "--base-port", str(base_port)]
    if setup.batch_frames:
        argv += ["--batch-frames", str(setup.batch_frames)]
    if setup.redis_url:
        argv += ["--redis-url", setup.redis_url]
    if setup.profile:
        spy = [str(Path(sys.executable).parent / "py-spy"), "record", "--nonblocking"]
        spy += ["--format", "raw", "--rate", "250", "-o", str(setup.logs / f"profile-{tag}.txt")]
        return [*spy, "--", sys.executable, *argv]
    return [sys.executable, *argv]


async def _each(
    children: list[Child], orders: list[dict[str, Any]], timeout: float
) -> list[dict[str, Any]]:
    """The same step on every worker at once (as the supervisor's workers run side by side)."""
    return list(
        await asyncio.gather(*(c.ask(o, timeout) for c, o in zip(children, orders, strict=True)))
    )


def _prepare_summary(prepared: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "prepare_s": max(p["prepare_s"] for p in prepared),
        "failed": sum(p["failed"] for p in prepared),
    }


def free_ports(count: int, attempts: int = 50) -> list[int]:
    """`count` consecutive free TCP ports on 127.0.0.1, as worker i listens on base + i."""
    for _ in range(attempts):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
        if base + count <= 65536 and all(_free(base + i) for i in range(1, count)):
            return [base + i for i in range(count)]
    raise RuntimeError(f"no {count} consecutive free ports found")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class OtherCpu:
    """CPU of the harness's processes and of the whole machine over (most of) the window."""

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
