"""What the bridge tests share: a recording tool host and turn sink, starting a bridge on
a paced call against the fake model, waiting for a condition."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from openai import AsyncOpenAI

from audio_processing.call_turns import HoldChange, Turn
from audio_processing.realtime.bridge import BridgeOptions, RealtimeBridge
from audio_processing.realtime.callee_modes import CalleeHandling
from tests.realtime.conftest import PacedCall, session_for


class Tools:
    def __init__(self, answer: str = "done") -> None:
        self.answer = answer
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.called_at: list[float] = []  # time.monotonic()

    async def call_tool(self, name: str, args: dict[str, Any]) -> str:
        self.calls.append((name, args))
        self.called_at.append(time.monotonic())
        return self.answer


class Sink:
    def __init__(self) -> None:
        self.turns: list[Turn] = []
        self.latencies: list[float] = []
        self.holds: list[HoldChange] = []

    def on_turn(self, turn: Turn) -> None:
        self.turns.append(turn)

    def on_latency(self, latency_ms: float) -> None:
        self.latencies.append(latency_ms)

    def on_hold(self, change: HoldChange) -> None:
        self.holds.append(change)


async def start(
    client: AsyncOpenAI,
    call: PacedCall,
    tools: Tools | None = None,
    sink: Sink | None = None,
    handling: CalleeHandling | None = None,
    **options: Any,
) -> tuple[RealtimeBridge, asyncio.Task[None]]:
    """A bridge on `call` with a session opened first (pre-warmed while it rang)."""
    session = session_for(client, transcription_model="gpt-4o-mini-transcribe")
    await session.ready()
    bridge = RealtimeBridge(session, tools or Tools(), sink, BridgeOptions(**options), handling)
    task = asyncio.get_running_loop().create_task(bridge.run(call.audio), name="bridge")
    return bridge, task


async def hang_up(call: PacedCall, task: asyncio.Task[None]) -> None:
    call.audio.close("caller hangup")  # type: ignore[arg-type]  # any EndReason-like string
    await asyncio.wait_for(task, 5)


async def until(predicate: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 - any condition, tests only
            await asyncio.sleep(0.005)
