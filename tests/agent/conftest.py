"""The whole production call stack with the AI agent, against the sandbox and the fake model.

Why a separate builder from tests/calls: these calls are talked by the real
AgentTalkerFactory (pre-warmed realtime session, tools, turn writer) reaching the strict
local Realtime server through the official SDK. An AudioSocketTap between Asterisk and
the server records what the platform actually wrote to each call (every 20 ms frame,
with its time), so tests measure barge-in and first-frame latency where it matters: at
the AudioSocket, not inside the bridge.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from audio_processing.audio_socket_server import AudioSocketServer
from audio_processing.realtime.bridge import BridgeOptions
from call_processor.agent_talker import AgentTalker, AgentTalkerFactory
from call_processor.call_initiator import CallInitiator, CallRequest
from call_processor.finished_call import FinishedCall
from common.command_bus import CommandBus
from database.repositories import phone_codes
from database.types import utcnow
from launcher.openai_clients import OpenAIClients, chat_client, realtime_client
from launcher.platform import Platform
from tests.calls.conftest import call_stack, place
from tests.support.audiosocket_tap import AudioSocketTap, TappedCall
from tests.support.fake_realtime import FakeRealtimeServer
from tests.support.platform_settings import NOWHERE
from tests.support.sandbox import Sandbox


class KeptFactory(AgentTalkerFactory):
    """The production factory; each talker it makes is kept for the test to inspect."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]  # AgentTalkerFactory's keywords
        self.talkers: dict[str, AgentTalker] = {}

    async def prepare(self, request: CallRequest, call_id: str) -> AgentTalker:
        talker = await super().prepare(request, call_id)
        self.talkers[call_id] = talker
        return talker


@dataclass
class AgentStack:
    web_port: int | None
    initiator: CallInitiator
    audio_server: AudioSocketServer
    tap: AudioSocketTap
    bus: CommandBus
    sessions: async_sessionmaker[AsyncSession]
    talkers: KeptFactory
    fake: FakeRealtimeServer
    user_id: int
    sandbox: Sandbox
    platform: Platform | None = None

    def request(self, scenario: str, token: str, **context: Any) -> CallRequest:
        number = "+" + self.sandbox.number(scenario, token)
        return CallRequest(user_id=self.user_id, phone_number=number, context=context)

    def metric(self, name: str) -> float:
        """A sample of the platform's /metrics registry (0.0 when absent)."""
        assert self.platform is not None
        return self.platform.metrics.registry.get_sample_value(name) or 0.0

    def place(self, request: CallRequest) -> asyncio.Future[FinishedCall]:
        return place(self.initiator, request)

    def only_call(self) -> tuple[str, AgentTalker, TappedCall]:
        """The one call placed so far: its id, its talker and what was written to it."""
        assert len(self.talkers.talkers) == 1
        call_id, talker = next(iter(self.talkers.talkers.items()))
        return call_id, talker, self.tap.call(call_id)


@contextlib.asynccontextmanager
async def agent_stack(
    sandbox: Sandbox,
    data_dir: Path,
    fake: FakeRealtimeServer,
    *,
    options: BridgeOptions | None = None,
    redis_url: str | None = None,
    feedback_timeout: float = 30.0,
    user_phone: str | None = None,
    phone_verified: bool = False,
    **platform: Any,
) -> AsyncIterator[AgentStack]:
    """The platform's call stack with the AI agent (its production talker factory, kept for
    inspection), reaching the fake model through OPENAI_BASE_URL like a user's .env.
    `platform` goes to call_stack (web, task_engine, openai, calling, scheduler_poll).
    `phone_verified`: the person proved `user_phone` is theirs (transfers need that)."""

    def make_talkers(platform: Platform) -> KeptFactory:
        assert platform.openai is not None
        return KeptFactory(
            client=platform.openai.realtime,
            openai=platform.settings.openai,
            sessions=platform.sessions,
            bus=platform.bus,
            options=options,
            feedback_timeout=feedback_timeout,
            metrics=platform.metrics,
        )

    # The judge's chat requests go nowhere (it falls back to the agent's own outcome);
    # the realtime client reaches the fake model, as OPENAI_BASE_URL would.
    own: OpenAIClients | None = None
    if "openai" not in platform:
        own = platform["openai"] = OpenAIClients(
            chat=chat_client("test-key", NOWHERE),
            realtime=realtime_client("test-key", fake.base_url),
        )
    try:
        async with call_stack(
            sandbox,
            data_dir,
            redis_url=redis_url,
            make_talkers=make_talkers,
            user_fields={"display_name": "Dana Example", "phone_number": user_phone},
            tap=True,
            openai_base_url=fake.base_url,
            **platform,
        ) as stack:
            assert stack.tap is not None
            if phone_verified and user_phone:
                async with stack.sessions() as s, s.begin():
                    await phone_codes.mark_verified(
                        s, user_id=stack.user_id, phone_number=user_phone, at=utcnow()
                    )
            yield AgentStack(
                stack.web_port,
                stack.initiator,
                stack.audio_server,
                stack.tap,
                stack.bus,
                stack.sessions,
                stack.talkers,
                fake,
                stack.user_id,
                sandbox,
                stack.platform,
            )
    finally:
        if own is not None:
            await own.aclose()
