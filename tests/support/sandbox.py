"""Control the Asterisk 22 sandbox (asterisk/sandbox/sandbox.sh) from tests.

The sandbox is one real Asterisk in a Debian sid chroot. Calls we originate to
`PJSIP/<scenario><token>@loopback` come back to it as the far end, which plays a scripted
callee and writes down what it received in `<root>/opt/sandbox/results/<token>`.
Scenario numbers (fixed; tests elsewhere rely on them) are the module constants below.

Several pytest sessions may share the sandbox on one machine, so each session holds a
lease file and only the last session to leave stops Asterisk.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.services import IN_CI, unavailable

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "asterisk" / "sandbox" / "sandbox.sh"
DEFAULT_ROOT = Path.home() / ".cache" / "opendeep" / "asterisk-root"
SOUNDS = Path("usr/share/asterisk/sounds/en_US_f_Allison")
GSM_FRAME_BYTES = 33  # one 20 ms GSM frame; Asterisk's .gsm prompts are raw frames
GSM_FRAME_SECONDS = 0.020

IVR = "201"
PERSON = "202"
VOICEMAIL = "203"
BUSY = "204"
NO_ANSWER = "205"
HANGS_UP = "206"
CONGESTION = "207"
SILENT = "208"
TRANSFER_TARGET = "209"
ECHO = "210"
TALKS_OVER = "211"  # silent 1 s, then talks for 3 s: interrupts the agent
RINGS_FIRST = "212"  # rings 1 s, then like SILENT
HELLO = "213"  # a short "hello" (mark spoke), then silence up to 30 s
SPEAKS_LATE = "215"  # rings 3 s, answers, speaks 0.5 s later (mark speaking), then silent
HOLD = "214"  # "please hold" (mark hold), music and announcements, then a person (mark person)


@dataclass(frozen=True)
class FarEndResult:
    """What the far end wrote down for one token, parsed."""

    token: str
    lines: tuple[str, ...]

    def words(self) -> list[str]:
        return [line.split(" ", 1)[0] for line in self.lines]

    def values(self, word: str) -> list[str]:
        return [line.split(" ", 1)[1] for line in self.lines if line.startswith(word + " ")]

    def has(self, word: str) -> bool:
        return word in self.words()

    @property
    def answered_at(self) -> float | None:
        found = self.values("answered")
        return float(found[0]) if found else None

    @property
    def hangup_at(self) -> float | None:
        found = self.values("hangup")
        return float(found[0].split()[0]) if found else None

    @property
    def duration(self) -> float | None:
        """Seconds from answer to hangup (0 when never answered); None before hangup."""
        found = self.values("hangup")
        return float(found[0].split("duration=")[1]) if found else None

    @property
    def digits(self) -> list[str]:
        return self.values("digit")

    @property
    def played(self) -> list[str]:
        return self.values("played")

    @property
    def reached(self) -> bool:
        return self.has("reached")

    def marks(self, name: str) -> list[float]:
        """Epoch seconds of each `mark NAME` line (note.sh TOKEN mark NAME), in order."""
        return [float(v.split()[1]) for v in self.values("mark") if v.split()[0] == name]

    def mark(self, name: str) -> float:
        """Epoch seconds of the first `mark NAME`; KeyError if there is none."""
        found = self.marks(name)
        if not found:
            raise KeyError(f"far end {self.token}: no mark {name}; saw {self.lines}")
        return found[0]


class Sandbox:
    """The running sandbox: connection details for tests plus start/stop/restart."""

    ami_host = "127.0.0.1"
    ami_port = 15038
    ami_username = "opendeep"
    ami_secret = "sandbox-secret-1"
    channel_template = "PJSIP/{number}@loopback"
    agent_context = "opendeep-agent"
    agent_exten = "s"
    # chan_websocket's client entry opendeep-media connects here (conf/websocket_client.conf)
    MEDIA_WEBSOCKET_PORT = 18765

    RECORDINGS = "opt/sandbox/results/recordings"  # MixMonitor's folder inside the chroot

    def __init__(self, root: Path | None = None) -> None:
        env_root = os.environ.get("OPENDEEP_SANDBOX_ROOT")
        self.root = root or (Path(env_root) if env_root else DEFAULT_ROOT)
        self.results_dir = self.root / "opt" / "sandbox" / "results"

    # -- lifecycle (blocking: these run sandbox.sh) -------------------------------------
    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "OPENDEEP_SANDBOX_ROOT": str(self.root),
            "OPENDEEP_SANDBOX_LEASE": str(os.getpid()),
        }

    def _run(self, *command: str, timeout: float) -> str:
        done = subprocess.run(
            ["bash", str(SCRIPT), *command],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self._env(),
            check=False,
        )
        if done.returncode != 0:
            raise SandboxError(
                f"sandbox.sh {' '.join(command)} failed ({done.returncode}): {done.stderr[-2000:]}"
            )
        return done.stdout.strip()

    def is_built(self) -> bool:
        return (self.root / ".opendeep-sandbox-complete").is_file()

    def build(self) -> None:
        self._run("build", timeout=900)

    def start(self) -> None:
        """Start Asterisk if needed and hold a lease on it for this process."""
        self._run("start", timeout=960)

    def stop(self) -> None:
        """Stop Asterisk now, whoever else is using it."""
        self._run("stop", timeout=960)

    def release(self) -> None:
        """Drop this process's lease; Asterisk stops when no other live session holds one."""
        self._run("release", str(os.getpid()), timeout=960)

    def restart(self) -> None:
        """Stop and start Asterisk (every live call ends; other sessions see that too)."""
        self._run("restart", timeout=960)

    def is_running(self) -> bool:
        done = subprocess.run(
            ["bash", str(SCRIPT), "status"],
            capture_output=True,
            timeout=30,
            env=self._env(),
            check=False,
        )
        return done.returncode == 0

    def version(self) -> str:
        return self._run("version", timeout=30)

    # -- far end ------------------------------------------------------------------------
    @staticmethod
    def new_token() -> str:
        """A fresh random token (digits) so each call's results are its own."""
        return str(secrets.randbelow(10**9)).rjust(9, "0")

    def number(self, scenario: str, token: str) -> str:
        return f"{scenario}{token}"

    def channel(self, scenario: str, token: str) -> str:
        return self.channel_template.format(number=self.number(scenario, token))

    def far_end(self, token: str) -> FarEndResult:
        path = self.results_dir / token
        try:
            text = path.read_text()
        except FileNotFoundError:
            text = ""
        # A line still being appended has no newline yet: ignore it until it is complete.
        complete = text[: text.rfind("\n") + 1]
        return FarEndResult(token, tuple(line for line in complete.splitlines() if line))

    async def wait_far_end(
        self,
        token: str,
        predicate: Callable[[FarEndResult], bool],
        timeout: float = 10.0,
    ) -> FarEndResult:
        """Poll the token's results until `predicate` holds; TimeoutError names what was seen."""
        result = self.far_end(token)
        try:
            async with asyncio.timeout(timeout):
                while not predicate(result):
                    await asyncio.sleep(0.05)
                    result = self.far_end(token)
        except TimeoutError:
            raise TimeoutError(f"far end {token}: condition not met; saw {result.lines}") from None
        return result

    def prompt_seconds(self, prompt: str) -> float:
        """Real duration of a sandbox prompt, from its raw GSM file size."""
        size = (self.root / SOUNDS / f"{prompt}.gsm").stat().st_size
        return size / GSM_FRAME_BYTES * GSM_FRAME_SECONDS


class SandboxError(RuntimeError):
    pass


def _prepare(sandbox: Sandbox) -> str:
    """Build (in CI) and start; returns the Asterisk version. Raises on any failure."""
    if os.geteuid() != 0:
        raise SandboxError("the sandbox needs root (chroot and mount)")
    if not sandbox.is_built():
        if not IN_CI:
            raise SandboxError(f"no sandbox root at {sandbox.root}")
        sandbox.build()
    sandbox.start()
    return sandbox.version()


def provide_sandbox(config: pytest.Config) -> Iterator[Sandbox]:
    """Body of the session fixture `asterisk_sandbox` (see tests/conftest.py)."""
    sandbox = Sandbox()
    try:
        version = _prepare(sandbox)
    except (SandboxError, OSError, subprocess.TimeoutExpired) as exc:
        unavailable("The Asterisk sandbox", f"build it with: make sandbox ({exc})")
        raise  # unreachable: unavailable() fails or skips
    log.info("asterisk sandbox running", extra={"asterisk_version": version})
    # sid moves: put the version in every test log, past output capturing.
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"\nasterisk sandbox: {version}")
    try:
        yield sandbox
    finally:
        sandbox.release()
