"""The whole production call stack with the AI agent, against the sandbox and the fake model.

Why a separate builder from tests/calls: these calls are talked by the real
AgentTalkerFactory (pre-warmed realtime session, tools, turn writer) reaching the strict
local Realtime server through the official SDK. A thin probe around each talker records
what the playout actually wrote to Asterisk (every 20 ms frame, with its time) and when
it was flushed, so tests measure barge-in and first-frame latency where it matters: at
the AudioSocket, not inside the bridge.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from audio_processing.audio_socket_server import AudioSocketServer
from audio_processing.call_audio import CallAudio
from audio_processing.realtime.bridge import BridgeOptions
from call_processor.agent_talker import AgentTalker, AgentTalkerFactory, TalkerReport
from call_processor.call_initiator import CallInitiator, CallRequest
from common.command_bus import CommandBus
from common.commands import CallCommand
from config.settings import OpenAISettings
from launcher.openai_clients import realtime_client
from tests.calls.conftest import call_stack
from tests.support.fake_realtime import FakeRealtimeServer
from tests.support.sandbox import Sandbox


@dataclass
class Written:
    """One 20 ms frame the paced writer sent to Asterisk (taken = written, synchronously)."""

    at: float  # time.monotonic(), the clock the fake server stamps its events with
    voiced: bool


@dataclass
class Probe:
    """What one call's playout did, seen from outside the bridge."""

    attached_at: float | None = None
    frames: list[Written] = field(default_factory=list)
    flushes: list[tuple[float, int]] = field(default_factory=list)  # (at, dropped_ms)
    audio: CallAudio | None = None

    def voiced(self, before: float = float("inf"), after: float = 0.0) -> list[Written]:
        return [f for f in self.frames if f.voiced and after <= f.at < before]

    def watch(self, audio: CallAudio) -> None:
        """Wrap this call's playout queue: every frame taken is written right away."""
        self.attached_at, self.audio = time.monotonic(), audio
        queue = audio.playout
        take, flush = queue.take, queue.flush

        def probed_take() -> bytes | None:
            frame = take()
            if frame is not None:
                self.frames.append(Written(time.monotonic(), any(frame)))
            return frame

        def probed_flush() -> int:
            dropped = flush()
            self.flushes.append((time.monotonic(), dropped))
            return dropped

        queue.take = probed_take  # type: ignore[method-assign]
        queue.flush = probed_flush  # type: ignore[method-assign]


class ProbedTalker:
    """An AgentTalker with a Probe on its call's audio; everything else is delegated."""

    def __init__(self, inner: AgentTalker, probe: Probe) -> None:
        self.inner, self.probe = inner, probe

    async def run(self, audio: CallAudio) -> None:
        self.probe.watch(audio)
        await self.inner.run(audio)

    async def on_command(self, command: CallCommand) -> None:
        await self.inner.on_command(command)

    def report(self) -> TalkerReport | None:
        return self.inner.report()

    async def aclose(self) -> None:
        await self.inner.aclose()


class ProbedFactory(AgentTalkerFactory):
    """The production factory; each talker it makes is probed and kept for the test."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.talkers: dict[str, ProbedTalker] = {}
        self.prepared_at: dict[str, float] = {}

    async def prepare(self, request: CallRequest, call_id: str) -> ProbedTalker:  # type: ignore[override]
        self.prepared_at[call_id] = time.monotonic()
        talker = ProbedTalker(await super().prepare(request, call_id), Probe())
        self.talkers[call_id] = talker
        return talker


class TimedAudioSocketServer(AudioSocketServer):
    """Notes when Asterisk's TCP connection arrives (before the UUID frame is even read)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.connected_at: list[float] = []

    def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connected_at.append(time.monotonic())
        super()._on_connect(reader, writer)


@dataclass
class AgentStack:
    initiator: CallInitiator
    audio_server: TimedAudioSocketServer
    bus: CommandBus
    sessions: async_sessionmaker[AsyncSession]
    talkers: ProbedFactory
    fake: FakeRealtimeServer
    user_id: int
    sandbox: Sandbox

    def request(self, scenario: str, token: str, **context: str) -> CallRequest:
        number = "+" + self.sandbox.number(scenario, token)
        return CallRequest(user_id=self.user_id, phone_number=number, context=context)

    def only_call(self) -> tuple[str, ProbedTalker]:
        assert len(self.talkers.talkers) == 1
        return next(iter(self.talkers.talkers.items()))


@contextlib.asynccontextmanager
async def agent_stack(
    sandbox: Sandbox,
    data_dir: Path,
    fake: FakeRealtimeServer,
    *,
    options: BridgeOptions | None = None,
    bus: CommandBus | None = None,
    feedback_timeout: float = 30.0,
    user_phone: str | None = None,
) -> AsyncIterator[AgentStack]:
    """AMI + AudioSocket + bus + slots + database + the agent, as main.py wires them."""
    client = realtime_client("test-key", fake.base_url)

    def make_talkers(sessions: async_sessionmaker[AsyncSession], bus: CommandBus) -> ProbedFactory:
        return ProbedFactory(
            client=client,
            openai=OpenAISettings(api_key=SecretStr("test-key"), base_url=fake.base_url),
            sessions=sessions,
            bus=bus,
            options=options,
            feedback_timeout=feedback_timeout,
        )

    try:
        async with call_stack(
            sandbox,
            data_dir,
            bus=bus,
            audio_server=TimedAudioSocketServer("127.0.0.1", 0),
            make_talkers=make_talkers,
            user_fields={"display_name": "Dana Example", "phone_number": user_phone},
        ) as stack:
            yield AgentStack(
                stack.initiator,
                stack.audio_server,
                stack.bus,
                stack.sessions,
                stack.talkers,
                fake,
                stack.user_id,
                sandbox,
            )
    finally:
        await client.close()
