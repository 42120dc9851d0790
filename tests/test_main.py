"""main.py as an operator meets it: doctor, bad configuration, run and stop."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.processes import clean_env, free_port, main_command
from tests.support.sandbox import Sandbox


def run_main(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        main_command(*args),
        cwd=tmp_path,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_doctor_on_a_fresh_checkout_names_what_is_missing(tmp_path: Path) -> None:
    result = run_main(tmp_path, "doctor", OPENAI_BASE_URL="http://127.0.0.1:9/v1")
    assert result.returncode != 0
    out = result.stdout
    assert "missing  OPENAI_API_KEY" in out
    assert "missing  AMI_SECRET" in out
    assert "ok       DATABASE_URL" in out
    assert "Traceback" not in result.stdout + result.stderr


def test_doctor_masks_secrets(tmp_path: Path) -> None:
    result = run_main(
        tmp_path,
        "doctor",
        OPENAI_API_KEY="sk-test-very-secret",
        AMI_SECRET="also-very-secret",
        OPENAI_BASE_URL="http://127.0.0.1:9/v1",
    )
    assert "very-secret" not in result.stdout + result.stderr
    assert "ok       OPENAI_API_KEY = ****" in result.stdout


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("DATABASE_URL", "postgresql+asyncpg://db:port/x"),
        ("DATABASE_URL", "oracle://somewhere/x"),
        ("REDIS_URL", "localhost:6379"),
        ("AMI_PORT", "five-oh-three-eight"),
    ],
)
def test_bad_setting_is_one_clear_line(tmp_path: Path, key: str, value: str) -> None:
    result = run_main(tmp_path, "run", **{key: value})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"config error: {key}: ")
    assert "Traceback" not in result.stderr


def test_doctor_reports_bad_setting_as_invalid(tmp_path: Path) -> None:
    result = run_main(tmp_path, "doctor", AMI_PORT="nope", OPENAI_BASE_URL="http://127.0.0.1:9/v1")
    assert result.returncode != 0
    assert "invalid  AMI_PORT = 'nope'" in result.stdout


def wait_healthz(port: int, proc: subprocess.Popen[str], within: float = 10) -> object:
    started = time.monotonic()
    while time.monotonic() - started < within and proc.poll() is None:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5).json()
        except httpx.HTTPError:
            time.sleep(0.1)
    return None


@contextlib.contextmanager
def running_main(tmp_path: Path, **env: str) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """`main.py run` as a subprocess on free ports; its output must hold no traceback."""
    port = free_port()
    full_env = clean_env(WEB_PORT=str(port), AUDIOSOCKET_LISTEN_PORT=str(free_port()), **env)
    with subprocess.Popen(
        main_command("run"),
        cwd=tmp_path,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as proc:
        try:
            assert wait_healthz(port, proc) == {"status": "ok"}, "no /healthz answer within 10 s"
            yield proc, port
        finally:
            if proc.poll() is None:
                proc.kill()
            output = proc.stdout.read() if proc.stdout else ""
    assert "Traceback" not in output, output
    for secret in env.values():
        if "secret" in secret:
            assert secret not in output


def test_run_serves_healthz_and_stops_on_sigterm(tmp_path: Path) -> None:
    with running_main(tmp_path) as (proc, port):
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).json()
        assert ready["components"]["database"]["ok"] is True
        assert ready["components"]["calls"]["ok"] is False  # no AMI secret, no OpenAI key
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
        assert 'opendeep_playout_frames_total{kind="late"} 0.0' in metrics
        assert "opendeep_calls_active 0.0" in metrics
        proc.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        assert proc.wait(timeout=10) == 0
        assert time.monotonic() - stopped_at < 5
    assert (tmp_path / "data" / "opendeep.sqlite3").exists()


def test_create_user_then_refuse_duplicate(tmp_path: Path) -> None:
    args = ("create-user", "--email", "Ada@Example.com", "--password", "correct horse battery")
    first = run_main(tmp_path, *args)
    assert first.returncode == 0, first.stderr
    assert "created user" in first.stdout
    second = run_main(tmp_path, *args)
    assert second.returncode == 1
    assert "exists already" in second.stderr
    assert "correct horse" not in first.stdout + first.stderr + second.stdout + second.stderr


def test_create_user_refuses_short_password(tmp_path: Path) -> None:
    result = run_main(tmp_path, "create-user", "--email", "b@example.com", "--password", "short")
    assert result.returncode == 2


@pytest.mark.sandbox
def test_doctor_reports_ami_ok_with_the_sandbox_running(
    tmp_path: Path, asterisk_sandbox: Sandbox
) -> None:
    result = run_main(
        tmp_path,
        "doctor",
        AMI_PORT=str(asterisk_sandbox.ami_port),
        AMI_SECRET=asterisk_sandbox.ami_secret,
        OPENAI_BASE_URL="http://127.0.0.1:9/v1",
    )
    assert "ok       ami  (logged in as opendeep)" in result.stdout
    assert asterisk_sandbox.ami_secret not in result.stdout + result.stderr


@pytest.mark.sandbox
def test_doctor_names_a_wrong_ami_secret(tmp_path: Path, asterisk_sandbox: Sandbox) -> None:
    result = run_main(
        tmp_path,
        "doctor",
        AMI_PORT=str(asterisk_sandbox.ami_port),
        AMI_SECRET="not-the-secret",
        OPENAI_BASE_URL="http://127.0.0.1:9/v1",
    )
    assert result.returncode != 0
    assert "fail     ami" in result.stdout
    assert "not-the-secret" not in result.stdout + result.stderr


@pytest.mark.sandbox
def test_run_with_asterisk_reports_ami_ready(tmp_path: Path, asterisk_sandbox: Sandbox) -> None:
    with running_main(
        tmp_path,
        AMI_PORT=str(asterisk_sandbox.ami_port),
        AMI_SECRET=asterisk_sandbox.ami_secret,
        OPENAI_API_KEY="sk-test-not-used",
        OPENAI_BASE_URL="http://127.0.0.1:9/v1",
    ) as (proc, port):
        ready: dict = {}
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            response = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
            ready = response.json()
            if response.status_code == 200:
                break
            time.sleep(0.2)
        assert ready["status"] == "ready", ready
        assert ready["components"]["ami"]["ok"] is True
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
        assert "opendeep_ami_connected 1.0" in metrics
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0


def test_run_on_the_plain_asyncio_loop_serves_and_stops(tmp_path: Path) -> None:
    """uvloop is the default; the stdlib loop stays a working choice."""
    with running_main(tmp_path, EVENT_LOOP="asyncio") as (proc, port):
        assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 503
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_doctor_never_prints_url_passwords(tmp_path: Path) -> None:
    result = run_main(
        tmp_path,
        "doctor",
        OPENAI_BASE_URL="http://127.0.0.1:9/v1",
        DATABASE_URL="postgresql+asyncpg://app:hunter2pw@127.0.0.1:9/x",
        REDIS_URL="redis://:redispass99@127.0.0.1:9/0",
    )
    out = result.stdout + result.stderr
    assert "hunter2pw" not in out
    assert "redispass99" not in out
    assert "DATABASE_URL = postgresql+asyncpg://app:****@127.0.0.1:9/x" in out
    bad = run_main(tmp_path, "doctor", DATABASE_URL="mysql://u:topsecret1@h/x")
    assert "topsecret1" not in bad.stdout + bad.stderr
    assert "invalid  DATABASE_URL" in bad.stdout
