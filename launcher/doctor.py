"""`main.py doctor`: what stops OpenDeep from placing calls here, and the one thing to do.

Why it builds what `run` builds: a doctor that probes with its own clients can pass where
`run` crashes. The OpenAI clients come from the same `build_openai_clients`, and the
Realtime check opens a real session (a WebSocket that sends `session.created`), because a
plain HTTP answer from the base URL says nothing about whether calls can work.

Output: the problems with their next steps first, then the services, then the settings
that are set or in trouble (`--verbose` lists every default too).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from openai import AsyncOpenAI

from call_processor.ami.client import AmiClient
from call_processor.ami.errors import AmiLoginFailed
from common.command_bus import probe_redis
from config import Settings
from config.report import SettingLine, settings_report
from config.settings import AmiSettings
from database.engine import probe_database
from launcher.openai_clients import build_openai_clients
from launcher.probe_failures import describe_failure

PROBE_TIMEOUT = 8.0
REALTIME_TIMEOUT = 5.0  # the real service sends session.created as soon as it accepts


@dataclass(frozen=True, slots=True)
class Check:
    """One service probed: ok with a detail, or a one-line reason and the next step."""

    name: str
    ok: bool
    detail: str
    next_step: str = ""


@dataclass(frozen=True, slots=True)
class Problem:
    what: str
    next_step: str


def setting_problem(line: SettingLine, env_file: str) -> Problem | None:
    """A missing or invalid setting, with what to do about it in the person's words."""
    if line.status == "ok":
        return None
    if line.status == "invalid":
        return Problem(
            f"{line.name} is invalid: {line.reason}",
            f"fix {line.name} in {env_file} or the environment",
        )
    where = (
        f"set {line.name} in {env_file}"
        if Path(env_file).is_file()
        else f"copy .env.example to {env_file} and set {line.name}"
    )
    hints = {
        "OPENAI_API_KEY": "your OpenAI API key; calls and the chat assistant need it",
        "AMI_SECRET": "the secret of the opendeep user in Asterisk's manager.conf; "
        "asterisk/manager.conf shows that user",
    }
    hint = hints.get(line.name, line.reason)
    return Problem(f"{line.name} is not set", f"{where} ({hint})")


async def _check(
    name: str,
    probe: Callable[[], Awaitable[str]],
    next_step: Callable[[BaseException], str],
    timeout: float = PROBE_TIMEOUT,
) -> Check:
    try:
        detail = await asyncio.wait_for(probe(), timeout)
    except TimeoutError:
        return Check(name, False, f"no answer within {timeout:.0f} s", next_step(TimeoutError()))
    except Exception as exc:
        return Check(name, False, describe_failure(exc), next_step(exc))
    return Check(name, True, detail)


async def probe_realtime(client: AsyncOpenAI, model: str) -> str:
    """Open a Realtime session the way a call does and wait for `session.created`."""
    manager = client.realtime.connect(model=model)
    conn = await manager.enter()
    try:
        first = json.loads(await conn.recv_bytes())
    except json.JSONDecodeError as exc:
        raise ValueError("the first WebSocket message was not JSON") from exc
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.close(), 2)
    kind = first.get("type") if isinstance(first, dict) else None
    if kind == "error":
        message = str((first.get("error") or {}).get("message", ""))[:160]
        raise ValueError(f"the server sent an error instead of session.created: {message}")
    if kind != "session.created":
        raise ValueError(f"the first event was {kind!r}, not session.created")
    return f"session.created for {model}"


async def probe_chat(client: AsyncOpenAI, model: str) -> str:
    """One tiny chat completion: the assistant and the post-call judge use this endpoint."""
    completion = await client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Reply with OK."}],
        max_completion_tokens=5,
        timeout=PROBE_TIMEOUT,
    )
    if not completion.choices:
        raise ValueError("the completion had no choices")
    return f"chat completions answer with {completion.model or model}"


def _openai_next_step(variable: str, endpoint: str) -> Callable[[BaseException], str]:
    def next_step(exc: BaseException) -> str:
        text = describe_failure(exc)
        if "401" in text or "key" in text:
            return "check OPENAI_API_KEY: the server refused it"
        if "404" in text and "model" in text:
            return f"check {variable}: the server does not know that model"
        return (
            f"OPENAI_BASE_URL must be an OpenAI-compatible API with {endpoint} "
            "(default https://api.openai.com/v1); check it and the network"
        )

    return next_step


def _ami_next_step(exc: BaseException) -> str:
    if isinstance(exc, AmiLoginFailed) or "login" in str(exc).lower():
        return "AMI_SECRET (or AMI_USERNAME) does not match Asterisk's manager.conf"
    return (
        "start Asterisk with asterisk/manager.conf included, or point AMI_HOST/AMI_PORT "
        "at its manager interface"
    )


async def service_checks(settings: Settings) -> list[Check]:
    app = settings.app
    checks = [
        await _check(
            "database",
            lambda: probe_database(settings.database.url, app.data_dir),
            lambda _: "check DATABASE_URL (unset: a SQLite file under DATA_DIR)",
        )
    ]
    if settings.redis.url:
        url = settings.redis.url
        checks.append(
            await _check(
                "redis",
                lambda: probe_redis(url),
                lambda _: "start Redis at REDIS_URL, or unset it to run a single process",
            )
        )
    if settings.ami.secret is not None:
        checks.append(await _check("ami", lambda: probe_ami(settings.ami), _ami_next_step))
    clients = build_openai_clients(settings.openai)
    if clients is not None:
        openai = settings.openai
        try:
            checks.append(
                await _check(
                    "openai realtime",
                    lambda: probe_realtime(clients.realtime, openai.realtime_model),
                    _openai_next_step("OPENAI_REALTIME_MODEL", "the Realtime WebSocket"),
                    timeout=REALTIME_TIMEOUT,
                )
            )
            checks.append(
                await _check(
                    "openai chat",
                    lambda: probe_chat(clients.chat, openai.chat_model),
                    _openai_next_step("OPENAI_CHAT_MODEL", "chat completions"),
                )
            )
        finally:
            await clients.aclose()
    return checks


def render(
    lines: list[SettingLine], checks: list[Check], env_file: str, verbose: bool
) -> list[str]:
    problems = [p for p in (setting_problem(line, env_file) for line in lines) if p is not None]
    problems += [Problem(f"{c.name}: {c.detail}", c.next_step) for c in checks if not c.ok]
    out: list[str] = []
    if problems:
        out.append(f"Problems ({len(problems)}), each with the next step:")
        for number, problem in enumerate(problems, 1):
            out.append(f"  {number}. {problem.what}")
            out.append(f"     next: {problem.next_step}")
    else:
        out.append("No problems: OpenDeep can place calls with these settings.")
    out.append("")
    out.append("Services:")
    out += [f"  {'ok' if c.ok else 'fail':<8} {c.name}  ({c.detail})" for c in checks]
    shown = [line for line in lines if verbose or line.status != "ok" or line.from_env]
    hidden = len(lines) - len(shown)
    more = f" ({hidden} more at their defaults: --verbose lists them)" if hidden else ""
    out.append("")
    out.append(f"Settings that are set or need attention{more}:")
    out += ["  " + line.render() for line in shown]
    out.append("")
    out.append("doctor: all good" if not problems else f"doctor: {len(problems)} problem(s)")
    return out


async def run_doctor(env_file: str, *, verbose: bool = False) -> int:
    """Print the report; non-zero when anything needed for calls is missing or failing."""
    lines, settings = settings_report(env_file)
    checks = await service_checks(settings)
    report = render(lines, checks, env_file, verbose)
    print("\n".join(report))
    return 0 if report[-1] == "doctor: all good" else 1


async def probe_ami(settings: AmiSettings, timeout: float = 5.0) -> str:
    """Log in once and leave; raises AmiError naming what failed."""
    client = AmiClient.from_settings(settings)
    await client.start()
    try:
        await client.wait_connected(timeout)
        return f"logged in as {settings.username}"
    finally:
        await client.stop()
