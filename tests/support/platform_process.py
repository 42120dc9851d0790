"""`main.py run` as real subprocesses on the Asterisk sandbox, for process-level tests.

Asyncio subprocesses, because the fake Realtime server these processes reach runs in the
test's own event loop. Each process's output is drained as it comes (a full pipe would
block it) and printed when the process is left, so pytest shows it when a test fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from tests.support.fake_realtime import FakeRealtimeServer
from tests.support.processes import clean_env, free_port, main_command
from tests.support.sandbox import Sandbox

T = TypeVar("T")


@dataclass
class RunningMain:
    """One `main.py run` subprocess; its combined output is drained so it never blocks."""

    proc: asyncio.subprocess.Process
    web_port: int = 0
    output: list[str] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None

    async def drain(self) -> None:
        assert self.proc.stdout is not None
        async for line in self.proc.stdout:
            self.output.append(line.decode(errors="replace"))

    @property
    def text(self) -> str:
        return "".join(self.output)

    async def wait_exit(self, timeout: float) -> int:
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        if self.reader is not None:
            await asyncio.wait_for(self.reader, 5)  # EOF follows exit: all output is read
        return code


@contextlib.asynccontextmanager
async def running_main(
    env: dict[str, str], cwd: Path, command: tuple[str, ...] = ("run", "--workers", "1")
) -> AsyncIterator[RunningMain]:
    """Start `main.py run` (or another `command`, e.g. `demo`) on fresh ports; whatever
    happens, it is killed on the way out."""
    ports = {"WEB_PORT": str(free_port()), "AUDIOSOCKET_LISTEN_PORT": str(free_port())}
    proc = await asyncio.create_subprocess_exec(
        *main_command(*command),
        cwd=cwd,
        env={**env, **ports},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    running = RunningMain(proc, web_port=int(ports["WEB_PORT"]))
    running.reader = asyncio.create_task(running.drain(), name="main.py:output")
    try:
        yield running
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(running.reader, 5)
        running.reader.cancel()
        print(running.text[-20_000:])  # shown by pytest only when the test fails


async def migrate(env: dict[str, str], cwd: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        *main_command("migrate"),
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, out.decode()


async def poll(
    read: Callable[[], Awaitable[T]], done: Callable[[T], bool], timeout: float, what: str
) -> T:
    """Poll rows the process writes until `done` holds; the failure names what was seen."""
    seen: T | None = None
    try:
        async with asyncio.timeout(timeout):
            while True:
                seen = await read()
                if done(seen):
                    return seen
                await asyncio.sleep(0.1)
    except TimeoutError:
        pytest.fail(f"{what} within {timeout:.0f} s; saw {seen!r}")


def platform_env(sandbox: Sandbox, fake: FakeRealtimeServer, **settings: str) -> dict[str, str]:
    """A clean environment that places calls on the sandbox with the fake model, plus
    `settings` (DATA_DIR, NODE_ID, ...)."""
    return clean_env(
        AMI_PORT=str(sandbox.ami_port),
        AMI_SECRET=sandbox.ami_secret,
        DIAL_CHANNEL_TEMPLATE=sandbox.channel_template,
        DIAL_CONTEXT=sandbox.agent_context,
        OPENAI_API_KEY="test-key",
        OPENAI_BASE_URL=fake.base_url,
        # Open every moment of every day in every zone: sandbox numbers (+202…) parse as
        # Cairo, and the test must not depend on the hour it runs at.
        CALLING_HOURS_START="00:00",
        CALLING_HOURS_END="23:59:59.999999",
        CALLING_DAYS="mon,tue,wed,thu,fri,sat,sun",
        **settings,
    )


@contextlib.asynccontextmanager
async def fresh_postgres_database(postgres_url: str) -> AsyncIterator[str]:
    """An empty PostgreSQL database of its own (dropped on the way out); yields its URL."""
    name = f"opendeep_proc_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(
        make_url(postgres_url).set(drivername="postgresql").render_as_string(False), timeout=10
    )
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(postgres_url).set(database=name).render_as_string(False)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
