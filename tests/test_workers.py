"""`main.py run --workers N`: how many workers, what sets them apart, and the supervisor as
an operator meets it (a real parent, real worker processes, Redis for the shared limit);
worker 0's /metrics and /readyz answer for every worker."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.worker_readiness import WorkerRole
from config import Settings, load_settings
from config.settings import AppSettings, AudioSocketSettings, RedisSettings
from launcher.supervisor import (
    HEALTHY_AFTER,
    MAX_RESTART_DELAY,
    RestartPolicy,
    WorkerCountError,
    role_env,
    role_from_env,
    sweep_metrics_dirs,
    worker_command,
    worker_count,
    worker_env,
)
from tests.support.fake_ami import FakeAmi
from tests.support.processes import clean_env, free_port, free_ports, main_command


def settings_with(
    redis: str | None = None, advertise: str | None = None, node: str | None = None
) -> Settings:
    return load_settings(
        env_file=None,
        redis=RedisSettings(url=redis),
        audiosocket=AudioSocketSettings(listen_port=9092, advertise_host=advertise),
        app=AppSettings(node_id=node),
    )


def test_auto_is_one_per_core_with_redis_and_one_without() -> None:
    assert worker_count("auto", settings_with("redis://127.0.0.1:6379/0"), 8) == 8
    assert worker_count("auto", settings_with("redis://127.0.0.1:6379/0"), None) == 1
    assert worker_count("auto", settings_with(), 8) == 1


def test_more_than_one_worker_without_redis_is_refused_in_one_clear_line() -> None:
    with pytest.raises(WorkerCountError, match="--workers 2 needs REDIS_URL"):
        worker_count("2", settings_with(), 8)
    for bad in ("0", "-1", "two", ""):
        with pytest.raises(WorkerCountError):
            worker_count(bad, settings_with("redis://127.0.0.1:6379/0"), 8)
    assert worker_count("3", settings_with("redis://127.0.0.1:6379/0"), 1) == 3


def test_each_worker_gets_its_own_audiosocket_port_address_and_node_id() -> None:
    plain = settings_with("redis://x:6379/0")
    assert worker_env(plain, 0) == {"AUDIOSOCKET_LISTEN_PORT": "9092"}
    assert worker_env(plain, 2) == {"AUDIOSOCKET_LISTEN_PORT": "9094"}
    named = settings_with("redis://x:6379/0", advertise="10.0.0.5:9092", node="box-a")
    assert worker_env(named, 1) == {
        "AUDIOSOCKET_LISTEN_PORT": "9093",
        "AUDIOSOCKET_ADVERTISE_HOST": "10.0.0.5:9093",
        "NODE_ID": "box-a-1",
    }
    with pytest.raises(WorkerCountError, match="needs a port"):
        worker_env(settings_with("redis://x:6379/0", advertise="pbx-host"), 1)


def test_on_chan_websocket_each_worker_names_its_own_client_entry() -> None:
    settings = load_settings(
        env_file=None,
        redis=RedisSettings(url="redis://x:6379/0"),
        audiosocket=AudioSocketSettings(listen_port=9092, transport="websocket"),
    )
    assert settings.audiosocket.media_websocket_client == "opendeep-media"
    assert worker_env(settings, 1) == {
        "AUDIOSOCKET_LISTEN_PORT": "9093",
        "AUDIOSOCKET_WEBSOCKET_CLIENT": "opendeep-media-1",
    }
    assert settings_with().audiosocket.media_websocket_client is None  # AudioSocket()


def test_a_worker_reads_back_the_role_its_supervisor_gave_it() -> None:
    role = WorkerRole("box-a:4242", 1, 3)
    assert role_from_env(role_env(role)) == role
    assert role_from_env({}) is None  # run alone: no role, no cross-worker reporting


def test_metrics_dirs_of_gone_supervisors_are_swept_and_others_kept(tmp_path: Path) -> None:
    with subprocess.Popen(["true"]) as exited:  # its pid stands for a supervisor now gone
        exited.wait()
    stale = tmp_path / f"opendeep-metrics-{exited.pid}-abc"
    mine = tmp_path / f"opendeep-metrics-{os.getpid()}-def"
    other = tmp_path / "opendeep-other-1-x"
    for path in (stale, mine, other):
        path.mkdir()
        (path / "counter_1.db").write_bytes(b"x")
    assert sweep_metrics_dirs(tmp_path) == [stale]
    assert [p.exists() for p in (stale, mine, other)] == [False, True, True]


def test_only_the_first_worker_serves_the_web_app() -> None:
    first, second = worker_command(".env", 0), worker_command(".env", 1)
    assert first[-3:] == ["run", "--workers", "1"]
    assert second[-4:] == ["run", "--workers", "1", "--no-web"]


@given(st.lists(st.floats(min_value=0, max_value=3 * HEALTHY_AFTER), max_size=30))
def test_restart_delays_grow_are_capped_and_reset_after_a_healthy_run(lives: list[float]) -> None:
    policy, now, previous = RestartPolicy(), 0.0, 0.0
    for life in lives:
        policy.started(now)
        started, now = now, now + life
        delay = policy.delay_after_exit(now)
        assert 0 < delay <= MAX_RESTART_DELAY
        if now - started >= HEALTHY_AFTER:  # the life as the clock measured it (floats round)
            assert delay == RestartPolicy().delay_after_exit(0.0)
        elif previous:
            assert delay >= previous
        previous = delay
        now += delay


STARTED_WITHIN = 90.0  # two workers importing at once on a loaded 2-core box took 40 s


def two_free_ports() -> int:
    """A port p with p + 1 free as well (worker 1 listens on the next port)."""
    return free_ports(2)[0]


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_for(predicate: Callable[[], bool], within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdecimal():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.append(int(entry.name))
    return found


def test_without_redis_two_workers_exit_2_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        main_command("run", "--workers", "2"),
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "config error: --workers 2 needs REDIS_URL: without Redis each worker would keep its "
        "own MAX_CONCURRENT_CALLS and its own command bus (set REDIS_URL, or run one worker)"
    ]


@pytest.mark.redis
def test_two_workers_listen_a_dead_one_comes_back_and_sigterm_stops_all(
    tmp_path: Path, redis_url: str
) -> None:
    web, audio = free_port(), two_free_ports()
    env = clean_env(WEB_PORT=str(web), AUDIOSOCKET_LISTEN_PORT=str(audio), REDIS_URL=redis_url)
    with subprocess.Popen(
        main_command("run", "--workers", "2"),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as parent:
        seen: set[int] = set()
        try:
            # worker 0 opens its web port after its AudioSocket port (the web app starts last)
            up = (audio, audio + 1, web)
            assert wait_for(lambda: all(listening(port) for port in up), STARTED_WITHIN)
            assert httpx.get(f"http://127.0.0.1:{web}/healthz", timeout=2).json() == {
                "status": "ok"
            }
            workers = children_of(parent.pid)
            seen.update(workers)
            assert len(workers) == 2
            second = next(p for p in workers if f"{audio + 1}" in _environ(p))
            os.kill(second, signal.SIGKILL)
            assert wait_for(lambda: not listening(audio + 1), 5)
            came_back = wait_for(lambda: listening(audio + 1), STARTED_WITHIN)
            assert came_back, "the dead worker never came back"
            workers = children_of(parent.pid)
            seen.update(workers)
            assert len(workers) == 2
            assert second not in workers
            parent.send_signal(signal.SIGTERM)
            assert parent.wait(timeout=20) == 0
            assert [pid for pid in workers if Path(f"/proc/{pid}").exists()] == []
            assert not listening(audio)
            assert not listening(audio + 1)
        finally:
            seen.update(children_of(parent.pid))  # before the parent goes and they are adopted
            if parent.poll() is None:
                parent.kill()
            for pid in seen:  # they hold the output pipe
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            output = parent.stdout.read() if parent.stdout else ""
    assert "worker exited; restarting" in output, output
    assert "Traceback" not in output, output


def _environ(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "environ").read_bytes().decode(errors="replace")
    except OSError:
        return ""


@pytest.mark.redis
def test_workers_stop_when_their_supervisor_is_killed(tmp_path: Path, redis_url: str) -> None:
    web, audio = free_port(), two_free_ports()
    env = clean_env(WEB_PORT=str(web), AUDIOSOCKET_LISTEN_PORT=str(audio), REDIS_URL=redis_url)
    with subprocess.Popen(
        main_command("run", "--workers", "2"), cwd=tmp_path, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    ) as parent:  # fmt: skip
        workers: list[int] = []
        try:
            assert wait_for(lambda: listening(audio) and listening(audio + 1), STARTED_WITHIN)
            workers = children_of(parent.pid)
            assert len(workers) == 2
            parent.kill()  # -9: the supervisor cannot stop them itself
            parent.wait(timeout=10)
            assert wait_for(lambda: not any(Path(f"/proc/{p}").exists() for p in workers), 20)
        finally:  # a failure before the kill above must not leave the parent running
            workers = workers or children_of(parent.pid)
            if parent.poll() is None:
                parent.kill()
            for pid in workers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


async def eventually(check: Callable[[], Awaitable[bool]], within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.2)
    return False


def series(metrics: str, name: str) -> dict[str, float]:
    """Label set -> value of every sample of `name` in a /metrics text."""
    found = re.findall(rf"^{name}(\{{[^}}]*\}})? (\S+)$", metrics, re.MULTILINE)
    return {labels: float(value) for labels, value in found}


@pytest.mark.redis
async def test_worker_0_answers_for_the_box_in_metrics_and_readyz(
    tmp_path: Path, redis_url: str
) -> None:
    web, audio = free_port(), two_free_ports()
    async with FakeAmi() as ami:
        env = clean_env(
            WEB_PORT=str(web),
            AUDIOSOCKET_LISTEN_PORT=str(audio),
            REDIS_URL=redis_url,
            AMI_PORT=str(ami.port),
            AMI_SECRET=ami.secret,
            OPENAI_API_KEY="sk-test-not-used",
            OPENAI_BASE_URL="http://127.0.0.1:9/v1",
        )
        parent = await asyncio.create_subprocess_exec(
            *main_command("run", "--workers", "2"), cwd=tmp_path, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        seen: set[int] = set()
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{web}", timeout=5) as client:
                await _box_reports(client, parent.pid, audio, seen)
            parent.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(parent.wait(), 20) == 0
        finally:
            seen.update(children_of(parent.pid))  # before the parent goes and they are adopted
            if parent.returncode is None:
                parent.kill()
            for pid in seen:  # they hold the output pipe
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            output = (await parent.stdout.read()).decode() if parent.stdout else ""
            await parent.wait()
    assert "Traceback" not in output, output


async def _box_reports(client: httpx.AsyncClient, parent: int, audio: int, seen: set[int]) -> None:
    readyz: dict = {}

    async def ready(expected: int) -> bool:
        nonlocal readyz
        try:
            response = await client.get("/readyz")
        except httpx.TransportError:  # worker 0 not listening yet, or stopped
            return False
        readyz = response.json()
        return response.status_code == expected

    async def metrics() -> str:
        return (await client.get("/metrics")).text

    assert await eventually(lambda: ready(200), STARTED_WITHIN), readyz
    assert readyz["components"]["worker-1"]["ok"] is True, readyz
    workers = children_of(parent)
    seen.update(workers)
    first = next(p for p in workers if f"AUDIOSOCKET_LISTEN_PORT={audio}\0" in _environ(p))
    second = next(p for p in workers if p != first)
    connected = series(await metrics(), "opendeep_ami_connected")
    assert connected == {f'{{pid="{first}"}}': 1.0, f'{{pid="{second}"}}': 1.0}

    # Only worker 1 listens on audio + 1: a refusal there is counted in worker 0's /metrics.
    _, writer = await asyncio.open_connection("127.0.0.1", audio + 1)
    writer.write(b"\x00\x00\x00")  # a hangup frame where the call's id must come first
    await writer.drain()
    writer.close()

    async def refused_once() -> bool:
        return sum(series(await metrics(), "opendeep_audiosocket_rejected_total").values()) == 1

    assert await eventually(refused_once, 10), await metrics()

    os.kill(second, signal.SIGSTOP)  # hung: it stops reporting
    try:
        assert await eventually(lambda: ready(503), 30), readyz
        assert "no readiness report" in readyz["components"]["worker-1"]["detail"], readyz
        assert readyz["components"]["ami"]["ok"] is True  # worker 0 itself is fine
    finally:
        os.kill(second, signal.SIGCONT)
    assert await eventually(lambda: ready(200), 30), readyz

    os.kill(second, signal.SIGKILL)  # dead: named at once, its gauges go, its counts stay
    assert await eventually(lambda: ready(503), 10), readyz
    assert readyz["components"]["worker-1"]["detail"] == f"process {second} exited", readyz

    async def forgotten() -> bool:
        text = await metrics()
        return f'pid="{second}"' not in text and f'pid="{first}"' in text

    assert await eventually(forgotten, 10), await metrics()
    assert await eventually(refused_once, 5), await metrics()
    assert await eventually(lambda: ready(200), STARTED_WITHIN), readyz  # restarted, reports
    seen.update(children_of(parent))
