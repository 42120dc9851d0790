"""The platform's call stack against the real sandbox: AMI, AudioSocket server, bus, slots,
database, built by the same function as `main.py run`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from audio_processing.audio_socket_server import AudioSocketServer
from audio_processing.call_audio import CallAudio
from audio_processing.talker_result import TalkerResult
from call_processor.ami.client import AmiClient
from call_processor.call_initiator import CallInitiator, CallRequest, TalkerFactory
from call_processor.call_slots import CallSlots
from call_processor.finished_call import FinishedCall
from common.command_bus import CommandBus
from common.commands import CallCommand
from common.metrics import PlatformMetrics
from config.settings import (
    CallingSettings,
    EmailSettings,
    InboundSettings,
    WebhookSettings,
    WebSettings,
)
from database.repositories import users
from launcher.openai_clients import OpenAIClients
from launcher.platform import Platform, PlatformOverrides, build_platform
from task_manager.scheduler import SCHEDULER_POLL
from tests.support.audiosocket_tap import AudioSocketTap
from tests.support.platform_settings import NOWHERE, platform_settings
from tests.support.processes import free_port
from tests.support.recording_talker import RecordingTalker
from tests.support.sandbox import Sandbox


class ClosableRecorder(RecordingTalker):
    """RecordingTalker as a PreparedTalker: no result, commands kept, closes counted."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]  # RecordingTalker's own keywords
        self.closed = 0
        self.commands: list[CallCommand] = []

    async def run(self, audio: CallAudio) -> None:
        await super().run(audio)

    def result(self) -> TalkerResult | None:
        return None  # a recorder has no opinion on the outcome

    async def on_command(self, command: CallCommand) -> None:
        self.commands.append(command)

    async def aclose(self) -> None:
        self.closed += 1


@dataclass
class RecorderFactory:
    """Makes one ClosableRecorder per call; `play_seconds` of silence then hang up if set."""

    hangup_after: float | None = None
    talkers: dict[str, ClosableRecorder] = field(default_factory=dict)

    async def prepare(self, request: CallRequest, call_id: str) -> ClosableRecorder:
        if self.hangup_after is None:
            talker = ClosableRecorder()
        else:
            silence = bytes(int(self.hangup_after * 16000))
            talker = ClosableRecorder(play=silence, hangup_after_play=True)
        self.talkers[call_id] = talker
        return talker


@dataclass
class CallStack:
    initiator: CallInitiator
    ami: AmiClient
    audio_server: AudioSocketServer
    bus: CommandBus
    sessions: async_sessionmaker[AsyncSession]
    talkers: Any  # RecorderFactory unless make_talkers was given
    user_id: int
    sandbox: Sandbox
    metrics: PlatformMetrics
    tap: AudioSocketTap | None = None  # between Asterisk and the server, when asked for
    web_port: int | None = None  # when the web app runs too
    platform: Platform | None = None

    def request(self, scenario: str, token: str, **kw: object) -> CallRequest:
        number = "+" + self.sandbox.number(scenario, token)
        return CallRequest(user_id=self.user_id, phone_number=number, **kw)  # type: ignore[arg-type]  # CallRequest's own keywords

    def place(self, request: CallRequest) -> asyncio.Future[FinishedCall]:
        return place(self.initiator, request)

    @property
    def calls_active(self) -> float | None:
        return calls_active(self.metrics)


def place(initiator: CallInitiator, request: CallRequest) -> asyncio.Future[FinishedCall]:
    """Launch a call the way the scheduler does; the future gets what `on_done` is given."""
    done: asyncio.Future[FinishedCall] = asyncio.get_running_loop().create_future()

    async def on_done(_request: CallRequest, finished: FinishedCall) -> None:
        if not done.done():
            done.set_result(finished)

    initiator.launch(request, on_done)
    return done


def calls_active(metrics: PlatformMetrics) -> float | None:
    """Calls between originate and hangup, as /metrics reports them."""
    return metrics.registry.get_sample_value("opendeep_calls_active")


MakeTalkers = Callable[[Platform], TalkerFactory]


@contextlib.asynccontextmanager
async def call_stack(
    sandbox: Sandbox,
    data_dir: Path,
    *,
    slots: CallSlots | None = None,
    redis_url: str | None = None,
    ring_timeout: float = 20.0,
    hangup_after: float | None = None,
    database_url: str | None = None,
    make_talkers: MakeTalkers | None = None,
    user_fields: dict[str, Any] | None = None,
    tap: bool = False,
    openai_base_url: str = NOWHERE,
    openai: OpenAIClients | None = None,
    web: bool = False,
    task_engine: bool = False,
    calling: CallingSettings | None = None,
    scheduler_poll: float = SCHEDULER_POLL,
    max_calls: int = 3,
    email: EmailSettings | None = None,
    inbound: InboundSettings | None = None,
    ami_port: int | None = None,
    idle_timeout: float = 60.0,
    web_settings: WebSettings | None = None,
    webhook: WebhookSettings | None = None,
    transport: Literal["audiosocket", "websocket"] = "audiosocket",
    websocket_client: str = "opendeep-media",
) -> AsyncIterator[CallStack]:
    """The platform as `main.py run` builds it (launcher.platform.build_platform), by
    default without its web app and task engine; `make_talkers(platform)` replaces the
    recording talkers, and `tap` puts an AudioSocketTap between Asterisk and the
    AudioSocket server. With `transport="websocket"` Asterisk reaches the media port through
    chan_websocket, whose sandbox client entry names a fixed port."""
    port = sandbox.MEDIA_WEBSOCKET_PORT if transport == "websocket" else free_port()
    tapped = AudioSocketTap(port) if tap else None
    if tapped is not None:
        await tapped.start()  # its address (Asterisk's AudioSocket target) exists once bound
    try:
        settings = platform_settings(
            data_dir,
            sandbox=sandbox,
            database_url=database_url,
            redis_url=redis_url,
            ring_timeout=ring_timeout,
            audiosocket_port=port,
            advertise=tapped.address if tapped else None,
            openai_base_url=openai_base_url,
            calling=calling,
            max_calls=max_calls,
            email=email,
            inbound=inbound,
            ami_port=ami_port,
            idle_timeout=idle_timeout,
            web=web_settings,
            webhook=webhook,
            transport=transport,
            websocket_client=websocket_client,
        )
        recorders = RecorderFactory(hangup_after=hangup_after)
        overrides = PlatformOverrides(
            talkers=make_talkers or (lambda _platform: recorders),
            openai=openai,
            slots=slots,
            web=web,
            task_engine=task_engine,
            scheduler_poll=scheduler_poll,
        )
        async with build_platform(settings, overrides) as platform:
            await platform.ami.wait_connected(10)
            async with platform.sessions() as s, s.begin():
                user = await users.create(
                    s, email=f"u{id(data_dir)}@example.com", password_hash="x",
                    **(user_fields or {}),
                )  # fmt: skip
            yield CallStack(
                platform.call_initiator, platform.ami, platform.audio_server, platform.bus,
                platform.sessions, platform.talkers, user.id, sandbox, platform.metrics, tapped,
                platform.web_port, platform,
            )  # fmt: skip
    finally:
        if tapped is not None:
            await tapped.aclose()


@pytest.fixture
async def stack(asterisk_sandbox: Sandbox, tmp_path: Path) -> AsyncIterator[CallStack]:
    async with call_stack(asterisk_sandbox, tmp_path) as built:
        yield built


async def wait_until(
    predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.05
) -> None:
    """Poll state we do not own (rows, far-end files, a talker's flags) until it holds."""
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 - polling external state, no event to wait on
            await asyncio.sleep(interval)
