"""The benchmark's child processes, driven by JSON lines on stdin/stdout.

Why processes: the platform's CPU and memory must be its own, and a load generator in
the same event loop would steal exactly the time whose absence we are measuring.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
_TICKS = os.sysconf("SC_CLK_TCK")


class Child:
    def __init__(self, name: str, process: asyncio.subprocess.Process) -> None:
        self.name = name
        self.process = process
        self.info: dict[str, Any] = {}

    @property
    def pid(self) -> int:
        return self.process.pid

    @classmethod
    async def start(
        cls, name: str, argv: list[str], logs: Path, root: Path = ROOT, *, ready: bool = True
    ) -> Child:
        """Start `argv` at the root of a source tree (this one by default: the harness;
        a checked-out revision for its platform, benchmarks/old_tree.py); with `ready`,
        read its first line."""
        env = {**os.environ, "PYTHONPATH": str(root), "PYTHONUNBUFFERED": "1"}
        with open(logs / f"{name}.log", "ab") as log:  # noqa: ASYNC230 - local, tiny
            process = await asyncio.create_subprocess_exec(
                *argv, cwd=root, env=env, limit=2**26,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log,
            )  # fmt: skip
        child = cls(name, process)
        if ready:
            child.info = await child.recv(timeout=30)
        return child

    def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message).encode() + b"\n")

    async def recv(self, timeout: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        async with asyncio.timeout(timeout):
            line = b""
            while not line.startswith(b"{"):  # py-spy (--profile) talks on stdout too
                line = await self.process.stdout.readline()
                if not line:
                    code = self.process.returncode
                    raise RuntimeError(f"{self.name} exited (code {code}); see its log")
        return dict(json.loads(line))

    async def ask(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        self.send(message)
        return await self.recv(timeout)

    async def close(self, last: dict[str, Any] | None = None, timeout: float = 30.0) -> None:
        """Ask politely (a last message, then EOF on stdin); terminate if it does not leave."""
        if self.process.returncode is None:
            with contextlib.suppress(ConnectionError, RuntimeError):
                if last is not None:
                    self.send(last)
                assert self.process.stdin is not None
                self.process.stdin.close()
        try:
            async with asyncio.timeout(timeout):
                await self.process.wait()
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


def system_busy() -> float:
    """CPU seconds all cores spent not idle since boot (from /proc/stat)."""
    with open("/proc/stat", encoding="ascii") as f:
        values = [int(v) for v in f.readline().split()[1:9]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / _TICKS
