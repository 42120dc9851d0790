"""Which telephone line the demo uses, started and stopped: the sandbox or the simulated one.

Why two lines: the real Asterisk sandbox shows OpenDeep placing real SIP calls, but it
needs root and debootstrap (sandbox_line.py); every other machine gets the simulated line
(line.py), so `make demo` always works. `--line auto` (the default) takes the sandbox where
the machine can run it and falls back to the simulated line, saying why in one line, when
it cannot or when the sandbox fails to start; `--line sandbox` fails instead of falling back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from config.settings import AmiSettings
from launcher.demo import sandbox_line
from launcher.demo.callee_server import CalleeServer
from launcher.demo.line import SimulatedLine
from launcher.demo.sandbox_line import LineMode, Machine

log = logging.getLogger(__name__)
SCRIPT = Path(__file__).resolve().parents[2] / "asterisk" / "sandbox" / "sandbox.sh"
SIMULATED_CHANNEL = "PJSIP/{number}@demo-line"
BUILD_TIMEOUT = 1800.0
START_TIMEOUT = 180.0


@dataclass(frozen=True)
class DemoLine:
    """What the platform's settings need from a line, and how the demo names it."""

    ami: AmiSettings
    channel_template: str
    name: str  # "the Asterisk sandbox (...)" or "a simulated telephone line"


class SandboxUnavailable(RuntimeError):
    """The sandbox could not be built or started; the message says why."""


def this_machine() -> Machine:
    root = sandbox_line.sandbox_root(dict(os.environ), Path.home())
    return Machine(
        is_root=os.geteuid() == 0,
        built=sandbox_line.is_built(root),
        has_debootstrap=shutil.which("debootstrap") is not None,
    )


@contextlib.asynccontextmanager
async def open_line(mode: LineMode, machine: Machine | None = None) -> AsyncIterator[DemoLine]:
    """The line for this run of the demo, until the demo stops."""
    machine = machine or this_machine()
    choice = sandbox_line.choose(mode, machine)
    async with contextlib.AsyncExitStack() as stack:
        line: DemoLine | None = None
        if choice.sandbox:
            try:
                line = await stack.enter_async_context(_sandbox_line(build=not machine.built))
            except SandboxUnavailable as exc:
                if mode is LineMode.SANDBOX:
                    raise
                _say(f"Telephone line: simulated, because the Asterisk sandbox failed: {exc}")
            else:
                _say(f"Telephone line: {line.name}, because {choice.why}.")
        else:
            _say(f"Telephone line: simulated, because {choice.why}.")
        if line is None:
            simulated = await stack.enter_async_context(SimulatedLine())
            line = DemoLine(
                AmiSettings(
                    host="127.0.0.1", port=simulated.port, username=simulated.username,
                    secret=SecretStr(simulated.secret),
                ),
                SIMULATED_CHANNEL,
                "a simulated telephone line",
            )  # fmt: skip
        yield line


def _say(text: str) -> None:
    """The newcomer's terminal gets the line's choice; the log gets it too."""
    print(text, flush=True)
    log.info("demo telephone line", extra={"line": text})


@contextlib.asynccontextmanager
async def _sandbox_line(build: bool) -> AsyncIterator[DemoLine]:
    """Asterisk running (built first when `build`) and the callee server listening."""
    sandbox = SandboxAsterisk()
    await sandbox.start(build)
    try:
        async with CalleeServer() as callees:
            yield DemoLine(
                AmiSettings(
                    host=sandbox_line.AMI_HOST, port=sandbox_line.AMI_PORT,
                    username=sandbox_line.AMI_USERNAME,
                    secret=SecretStr(sandbox_line.AMI_SECRET),
                ),
                sandbox_line.channel_template(callees.port),
                f"the Asterisk sandbox ({sandbox.version.split('+')[0]}, real SIP calls)",
            )  # fmt: skip
    finally:
        await sandbox.stop()


class SandboxAsterisk:
    """asterisk/sandbox/sandbox.sh for the demo: build once, start, and on stop leave it as
    found. The demo holds a lease (sandbox.sh) so a test session ending meanwhile does not
    stop Asterisk under it; it stops Asterisk only if it started it and nobody else holds a
    lease. A lease left behind by a demo that died is pruned by sandbox.sh (its pid is gone).
    """

    def __init__(self) -> None:
        self.version = ""
        self._started_it = False
        self._env = {**os.environ, "OPENDEEP_SANDBOX_LEASE": str(os.getpid())}

    async def start(self, build: bool) -> None:
        if build:
            print("Building the Asterisk sandbox (once; a few minutes)...", flush=True)
            await self._run("build", timeout=BUILD_TIMEOUT)
        self._started_it = not await self._ok("status")
        await self._run("start", timeout=START_TIMEOUT)
        self.version = (await self._run("version", timeout=30)).strip()

    async def stop(self) -> None:
        if self._started_it:
            with contextlib.suppress(SandboxUnavailable):
                await self._run("release", str(os.getpid()), timeout=START_TIMEOUT)

    async def _ok(self, *command: str) -> bool:
        try:
            await self._run(*command, timeout=30)
        except SandboxUnavailable:
            return False
        return True

    async def _run(self, *command: str, timeout: float) -> str:
        try:
            proc = await asyncio.create_subprocess_exec(
                "bash", str(SCRIPT), *command, env=self._env,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
        except OSError as exc:
            raise SandboxUnavailable(f"cannot run sandbox.sh: {exc}") from None
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise SandboxUnavailable(f"sandbox.sh {command[0]} took over {timeout:.0f} s") from None
        if proc.returncode != 0:
            last = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise SandboxUnavailable(f"sandbox.sh {command[0]}: {last[0]}")
        return out.decode(errors="replace")
