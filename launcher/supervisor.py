"""`main.py run --workers N`: N call workers on one box, supervised by one parent.

Why processes: one event loop paces about 100 calls on this hardware (benchmarks/), so more
calls per box means more loops, and Python gives one loop per process. Each worker is a whole
`main.py run --workers 1` with its own AudioSocket port and AMI login; they share the global
call limit and the command bus through Redis, and claim work from the same database (claims
are safe across processes: FOR UPDATE SKIP LOCKED on PostgreSQL, BEGIN IMMEDIATE on SQLite).
The first worker also serves the web app, so its port and its pages stay where they were.
The parent runs the migrations once, restarts a worker that dies (with a growing delay, so a
worker that cannot start does not spin), and on SIGTERM stops them all (docs/architecture.md).
So that worker 0's /metrics and /readyz answer for the box, the parent gives the workers a
fresh private PROMETHEUS_MULTIPROC_DIR (common/metrics.py), forgets a dead worker's gauges
there, and tells each worker its place (common/worker_readiness.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.multiprocess import mark_process_dead

from common.metrics import MULTIPROC_ENV
from common.owned_tasks import TaskOwner
from common.worker_readiness import WorkerRole, pid_alive
from config import Settings
from database.migrate import upgrade

log = logging.getLogger("opendeep")
MAIN = Path(__file__).resolve().parents[1] / "main.py"
PARENT_ENV = "OPENDEEP_SUPERVISOR_PID"  # a worker stops when this process is gone
METRICS_PREFIX = "opendeep-metrics-"  # + the supervisor's pid, in the temp directory
GROUP_ENV, INDEX_ENV, COUNT_ENV = "OPENDEEP_WORKER_GROUP", "OPENDEEP_WORKER", "OPENDEEP_WORKERS"
FIRST_RESTART_DELAY = 0.5
MAX_RESTART_DELAY = 30.0
HEALTHY_AFTER = 60.0  # a worker that lived this long starts its next restart from scratch


class WorkerCountError(ValueError):
    """`--workers` asked for what this configuration cannot run."""


def worker_count(requested: str, settings: Settings, cpus: int | None) -> int:
    """`auto` is one worker per core when Redis can share the call limit, else one."""
    shared = settings.redis.url is not None
    if requested == "auto":
        return max(1, cpus or 1) if shared else 1
    try:
        count = int(requested)
    except ValueError:
        raise WorkerCountError(f"--workers must be a number or auto, not {requested!r}") from None
    if count < 1:
        raise WorkerCountError("--workers must be at least 1")
    if count > 1 and not shared:
        raise WorkerCountError(
            f"--workers {count} needs REDIS_URL: without Redis each worker would keep its own "
            "MAX_CONCURRENT_CALLS and its own command bus (set REDIS_URL, or run one worker)"
        )
    return count


def _shift_port(address: str, by: int) -> str:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdecimal():
        raise WorkerCountError(
            f"AUDIOSOCKET_ADVERTISE_HOST {address!r} needs a port when --workers > 1"
        )
    return f"{host}:{int(port) + by}"


def worker_env(settings: Settings, index: int) -> dict[str, str]:
    """What makes worker `index` distinct: its AudioSocket port (and the address Asterisk
    dials back), and its node id; everything else comes from the same .env."""
    listen = settings.audiosocket
    env = {"AUDIOSOCKET_LISTEN_PORT": str(listen.listen_port + index)}
    if listen.advertise_host:
        env["AUDIOSOCKET_ADVERTISE_HOST"] = _shift_port(listen.advertise_host, index)
    if listen.transport == "websocket":  # each worker's port has its own client entry
        env["AUDIOSOCKET_WEBSOCKET_CLIENT"] = f"{listen.websocket_client}-{index}"
    if settings.app.node_id:
        env["NODE_ID"] = f"{settings.app.node_id}-{index}"
    return env


def role_env(role: WorkerRole) -> dict[str, str]:
    return {GROUP_ENV: role.group, INDEX_ENV: str(role.index), COUNT_ENV: str(role.count)}


def role_from_env(environ: Mapping[str, str] | None = None) -> WorkerRole | None:
    """The role the supervisor gave this process; None when it runs alone."""
    env = os.environ if environ is None else environ
    group, index, count = env.get(GROUP_ENV), env.get(INDEX_ENV, ""), env.get(COUNT_ENV, "")
    if not group or not index.isdecimal() or not count.isdecimal():
        return None
    return WorkerRole(group, int(index), int(count))


def sweep_metrics_dirs(root: Path) -> list[Path]:
    """Remove the metrics directories of supervisors that are gone (one killed with -9
    could not remove its own); the pid in each name says whose it is."""
    removed = []
    for path in root.glob(f"{METRICS_PREFIX}*-*"):
        owner = path.name.removeprefix(METRICS_PREFIX).split("-", 1)[0]
        if owner.isdecimal() and not pid_alive(int(owner)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def worker_command(env_file: str, index: int) -> list[str]:
    """Worker 0 serves the web app too; the others only calls."""
    command = [sys.executable, str(MAIN), "--env-file", env_file, "run", "--workers", "1"]
    return command if index == 0 else [*command, "--no-web"]


@dataclass
class RestartPolicy:
    """Pure: how long to wait before starting a worker again."""

    failures: int = 0
    started_at: float = field(default=0.0)

    def started(self, now: float) -> None:
        self.started_at = now

    def delay_after_exit(self, now: float) -> float:
        if now - self.started_at >= HEALTHY_AFTER:
            self.failures = 0
        delay = min(MAX_RESTART_DELAY, FIRST_RESTART_DELAY * 2.0**self.failures)
        self.failures += 1
        return delay


class Supervisor:
    """Starts N worker processes, restarts the ones that die, stops them all on `stop()`."""

    def __init__(self, settings: Settings, env_file: str, count: int) -> None:
        self.settings = settings
        self.env_file = env_file
        self.count = count
        self.processes: dict[int, asyncio.subprocess.Process] = {}
        self.restarts = 0
        self._owner = TaskOwner("supervisor")
        self._stopping = False
        # Unique per supervisor run, so boxes sharing Redis never read each other's workers.
        self.group = f"{socket.gethostname()}:{os.getpid()}"
        self.metrics_dir: Path | None = None

    async def start(self) -> None:
        # Once, before any worker: N workers upgrading one schema at once would race.
        await upgrade(self.settings.database.url, self.settings.app.data_dir)
        # Fresh and private (0700): no other run's values, nobody else's reads.
        root = Path(tempfile.gettempdir())
        sweep_metrics_dirs(root)
        self.metrics_dir = Path(
            tempfile.mkdtemp(prefix=f"{METRICS_PREFIX}{os.getpid()}-", dir=root)
        )
        for index in range(self.count):
            self._owner.spawn(self._keep_running(index), name=f"worker-{index}")
        log.info("workers started", extra={"workers": self.count})

    async def _spawn(self, index: int) -> asyncio.subprocess.Process:
        env = {
            **os.environ,
            **worker_env(self.settings, index),
            **role_env(WorkerRole(self.group, index, self.count)),
            PARENT_ENV: str(os.getpid()),
            MULTIPROC_ENV: str(self.metrics_dir),
        }
        # Its own session: a Ctrl-C in the terminal reaches the parent only, which then
        # stops the workers in order instead of racing their exits with restarts.
        process = await asyncio.create_subprocess_exec(
            *worker_command(self.env_file, index), env=env, start_new_session=True
        )
        self.processes[index] = process
        log.info("worker started", extra={"worker": index, "pid": process.pid})
        return process

    async def _keep_running(self, index: int) -> None:
        policy = RestartPolicy()
        while True:
            policy.started(time.monotonic())
            process = await self._spawn(index)
            code = await process.wait()
            # Its calls and its AMI login ended with it; its counters stay in the totals.
            mark_process_dead(process.pid, str(self.metrics_dir))  # type: ignore[no-untyped-call]
            if self._stopping:  # set by stop() while this task waited
                return
            delay = policy.delay_after_exit(time.monotonic())
            log.error(
                "worker exited; restarting",
                extra={"worker": index, "exit_code": code, "restart_in": delay},
            )
            self.restarts += 1
            await asyncio.sleep(delay)

    async def stop(self) -> None:
        """No more restarts, then SIGTERM to every worker (each ends its calls within
        SHUTDOWN_GRACE), then SIGKILL for any that outlive it."""
        self._stopping = True
        await self._owner.aclose()
        running = [p for p in self.processes.values() if p.returncode is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = self.settings.app.shutdown_grace + 5
        for process in running:
            try:
                await asyncio.wait_for(process.wait(), timeout=deadline)
            except TimeoutError:
                log.error("worker did not stop; killing it", extra={"pid": process.pid})
                process.kill()
                await process.wait()
        if self.metrics_dir is not None:
            shutil.rmtree(self.metrics_dir, ignore_errors=True)
        log.info("workers stopped")


async def supervise(settings: Settings, env_file: str, count: int) -> int:
    """Until SIGTERM or SIGINT; exit status 0 after a clean stop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    supervisor = Supervisor(settings, env_file, count)
    try:
        await supervisor.start()
    except Exception as exc:
        log.error("start-up failed: %s", exc)
        return 1
    await stop.wait()
    log.info("shutting down")
    await supervisor.stop()
    return 0
