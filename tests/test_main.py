"""main.py as an operator meets it: doctor, bad configuration, run and stop."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.fake_twilio import HttpRequest, LocalHttpServer
from tests.support.openai_standin import HtmlPage, OpenAIStandIn
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
    lines = out.splitlines()
    assert lines[0] == "Problems (2), each with the next step:"
    assert "  1. AMI_SECRET is not set" in lines
    assert "  2. OPENAI_API_KEY is not set" in lines
    assert lines[lines.index("  2. OPENAI_API_KEY is not set") + 1].startswith(
        "     next: copy .env.example to .env and set OPENAI_API_KEY"
    )
    assert lines.index("Services:") > lines.index("  2. OPENAI_API_KEY is not set")
    assert "missing  OPENAI_API_KEY" in out
    assert "missing  AMI_SECRET" in out
    assert "ok       database  (sqlite answers)" in out
    assert "DIAL_CONTEXT" not in out  # a default: only --verbose lists it
    assert "Traceback" not in result.stdout + result.stderr


def test_doctor_verbose_lists_every_setting(tmp_path: Path) -> None:
    result = run_main(tmp_path, "doctor", "--verbose", OPENAI_BASE_URL="http://127.0.0.1:9/v1")
    assert "ok       DIAL_CONTEXT = opendeep-agent" in result.stdout


async def doctor_against(tmp_path: Path, base_url: str, key: str = "sk-test-doctor") -> str:
    """`main.py doctor` in a subprocess while this event loop serves the fake endpoints."""
    proc = await asyncio.create_subprocess_exec(
        *main_command("doctor"),
        cwd=tmp_path,
        env=clean_env(OPENAI_API_KEY=key, OPENAI_BASE_URL=base_url),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    text = out.decode()
    assert proc.returncode != 0, text  # AMI_SECRET is never set here
    assert "Traceback" not in text
    return text


def problems(report: str) -> list[str]:
    """The numbered problem lines at the top of the report."""
    return [line.strip() for line in report.splitlines() if line[:5].strip().rstrip(".").isdigit()]


async def test_doctor_opens_a_realtime_session_and_asks_for_a_completion(tmp_path: Path) -> None:
    async with OpenAIStandIn("created") as server:
        report = await doctor_against(tmp_path, server.base_url)
    assert "ok       openai realtime  (session.created for gpt-realtime)" in report
    assert "ok       openai chat  (chat completions answer with gpt-4.1-mini)" in report
    assert problems(report) == ["1. AMI_SECRET is not set"]
    assert server.seen == ["GET /v1/realtime", "POST /v1/chat/completions"]
    assert "sk-test-doctor" not in report


async def test_doctor_fails_when_the_base_url_is_a_plain_web_page(tmp_path: Path) -> None:
    async with HtmlPage() as server:
        report = await doctor_against(tmp_path, server.base_url)
    assert problems(report)[1] == (
        "2. openai realtime: HTTP 200 (an HTML page) where a Realtime WebSocket was expected"
    )
    assert "fail     openai chat" in report


async def test_doctor_fails_on_http_426_without_a_websocket(tmp_path: Path) -> None:
    async def upgrade_required(_: HttpRequest) -> tuple[int, object]:
        return 426, {"detail": "Upgrade Required"}

    async with LocalHttpServer(upgrade_required) as server:
        report = await doctor_against(tmp_path, f"{server.base_url}/v1")
    assert problems(report)[1] == (
        "2. openai realtime: HTTP 426 where a Realtime WebSocket was expected"
    )


async def test_doctor_fails_when_the_websocket_never_sends_session_created(
    tmp_path: Path,
) -> None:
    async with OpenAIStandIn("silent") as server:
        report = await doctor_against(tmp_path, server.base_url)
    assert problems(report)[1] == "2. openai realtime: no answer within 5 s"
    assert "ok       openai chat" in report


async def test_doctor_names_a_refused_key(tmp_path: Path) -> None:
    async with OpenAIStandIn("created") as server:
        report = await doctor_against(tmp_path, server.base_url, key="sk-wrong")
    assert "2. openai realtime: HTTP 401 on the Realtime WebSocket: the API key was refused" in (
        problems(report)
    )
    assert "check OPENAI_API_KEY: the server refused it" in report


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
def running_main(
    tmp_path: Path, **env: str
) -> Iterator[tuple[subprocess.Popen[str], int, list[str]]]:
    """`main.py run` as a subprocess on free ports; its output (in the list yielded, once
    the block ends) must hold no traceback and no failed start-up."""
    logs: list[str] = []
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
            yield proc, port, logs
        finally:
            if proc.poll() is None:
                proc.kill()
            output = proc.stdout.read() if proc.stdout else ""
            logs.append(output)
    assert "Traceback" not in output, output
    assert "start-up failed" not in output, output
    for secret in env.values():
        if "secret" in secret:
            assert secret not in output


def test_run_serves_healthz_and_stops_on_sigterm(tmp_path: Path) -> None:
    with running_main(tmp_path) as (proc, port, _logs):
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


def test_run_with_a_key_and_no_asterisk_builds_its_clients_and_serves(tmp_path: Path) -> None:
    """Start-up matrix (b): the OpenAI clients are built at start, AMI keeps retrying."""
    with running_main(
        tmp_path,
        OPENAI_API_KEY="sk-test-not-used",
        OPENAI_BASE_URL="http://127.0.0.1:9/v1",
        AMI_SECRET="ami-secret-for-test",
        AMI_PORT=str(free_port()),
    ) as (proc, port, logs):
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
        assert ready.status_code == 503
        assert ready.json()["components"]["ami"]["ok"] is False
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    assert "openai clients built" in logs[0]


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
    ) as (proc, port, _logs):
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
    with running_main(tmp_path, EVENT_LOOP="asyncio") as (proc, port, _logs):
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


def test_only_the_operator_command_edits_the_operators_do_not_call_list(tmp_path: Path) -> None:
    added = run_main(tmp_path, "dnd", "add", "(415) 555-0123", "--reason", "asked on a call")
    assert added.returncode == 0, added.stderr
    listed = run_main(tmp_path, "dnd", "list")
    assert "+14155550123" in listed.stdout
    assert "asked on a call" in listed.stdout
    assert run_main(tmp_path, "dnd", "add", "12345").returncode == 2
    assert run_main(tmp_path, "dnd", "remove", "+14155550123").returncode == 0
    assert "+14155550123" not in run_main(tmp_path, "dnd", "list").stdout


def test_create_user_refuses_a_common_password(tmp_path: Path) -> None:
    made = run_main(tmp_path, "create-user", "--email", "b@example.com", "--password", "password12")
    assert made.returncode == 2
    assert "Choose a harder password" in made.stderr


def test_token_create_prints_a_token_that_works_for_its_account(tmp_path: Path) -> None:
    from database.engine import create_engine_for, session_factory
    from web_interface.accounts import token_user

    password = "correct horse battery"
    run_main(tmp_path, "create-user", "--email", "ada@example.com", "--password", password)
    made = run_main(
        tmp_path, "token", "create", "--email", "ada@example.com", "--scopes", "read,calls"
    )
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("odt_")
    assert token not in made.stderr

    async def owner() -> tuple[str, list[str]]:
        engine = create_engine_for(None, tmp_path / "data")
        try:
            async with session_factory(engine)() as s:
                found = await token_user(s, secret=token)
        finally:
            await engine.dispose()
        assert found is not None
        return found[0].email, sorted(found[1])

    assert asyncio.run(owner()) == ("ada@example.com", ["calls", "read"])
    nobody = run_main(tmp_path, "token", "create", "--email", "eve@example.com")
    assert (nobody.returncode, "no account for eve@example.com" in nobody.stderr) == (1, True)
    bad = run_main(tmp_path, "token", "create", "--email", "ada@example.com", "--scopes", "root")
    assert bad.returncode == 2
