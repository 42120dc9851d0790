"""The platform of one process: every long-running service, built from Settings.

The composition root. It alone reads Settings as a whole, builds every service, and stops
them in order: stop taking new work, end calls in progress, then close connections.
`main.py run`, the test fixtures and the benchmarks all build it with `build_platform`, so
what the tests exercise is the graph users run; `PlatformOverrides` names the few parts a
test or benchmark swaps (docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from openai import AsyncOpenAI
from sqlalchemy import text

from audio_processing.audio_socket_server import AudioSocketServer
from audio_processing.playout import PlayoutTotals
from call_processor.agent_talker import AgentTalkerFactory
from call_processor.ami.client import AmiClient
from call_processor.call_initiator import CallInitiator, TalkerFactory
from call_processor.call_slots import CallSlots, create_call_slots
from call_processor.inbound_calls import ANNOUNCE_WAIT, InboundCalls, InboundDeps
from call_processor.message_talker import MessageTalkers
from call_processor.recordings import RECORDING_EVENT, RecordingStore
from common.command_bus import create_command_bus, probe_redis
from common.event_relay import EventRelay
from common.health import ComponentHealth, HealthRegistry
from common.metrics import PlatformMetrics
from common.worker_readiness import WorkerReadiness, WorkerRole
from config import Settings
from database.engine import create_engine_for, session_factory
from database.migrate import upgrade
from launcher.openai_clients import OpenAIClients, build_openai_clients
from task_manager.call_judge import LlmJudge
from task_manager.callback_outcome import CallbackOutcome
from task_manager.campaign_control import CampaignControlService
from task_manager.initiator_launcher import InitiatorLauncher
from task_manager.lifecycle_manager import TaskLifecycleManagerService
from task_manager.notifier import Notifier
from task_manager.post_call_analyzer import PostCallAnalyzer
from task_manager.scheduler import (
    SCHEDULER_LEASE,
    SCHEDULER_POLL,
    TaskSchedulerService,
    default_window,
)
from task_manager.senders import email_sender, sms_sender
from task_manager.task_outlook import TaskOutlookService
from task_manager.ui_assistant_svc import UiAssistantService
from task_manager.webhook_delivery import WebhookDeliveryService
from web_interface.app import create_app
from web_interface.deps import SignupHook, WebDeps
from web_interface.secret_key import load_or_create_secret_key
from web_interface.web_server import WebServer

log = logging.getLogger("opendeep")
StopStep = tuple[str, Callable[[], Awaitable[object]]]


@dataclass(frozen=True)
class PlatformOverrides:
    """The parts a test or a benchmark swaps; everything else comes from Settings.

    `talkers(platform)` makes what talks on each call (the AI agent by default); `openai`
    replaces the clients built from OPENAI_* (tests reach two local servers); `slots`
    replaces the call slots built from REDIS_URL/MAX_CONCURRENT_CALLS; `web` and
    `task_engine` off leave those services out (and `webhooks` off, the webhook delivery
    worker); `scheduler_poll` and `scheduler_lease` are the scheduler's production values
    unless a test cannot wait for them.
    `task_engine` off leave those services out; `scheduler_poll` and `scheduler_lease`
    are the scheduler's production values unless a test cannot wait for them. `demo`,
    `demo_line` and `on_signup` are set by `main.py demo` only (launcher/demo/): the web
    app's "Demo" badge (its tooltip names the line) and the sample history written for
    each new account. `worker` is set for each worker of `run --workers N`
    (launcher/supervisor.py): worker 0's /readyz then answers for the others too
    (common/worker_readiness.py).
    """

    talkers: Callable[[Platform], TalkerFactory] | None = None
    openai: OpenAIClients | None = None
    slots: CallSlots | None = None
    web: bool = True
    task_engine: bool = True
    webhooks: bool = True
    scheduler_poll: float = SCHEDULER_POLL
    scheduler_lease: timedelta = SCHEDULER_LEASE
    demo: bool = False
    demo_line: str = ""  # the badge's tooltip names the demo's telephone line
    on_signup: SignupHook | None = None
    worker: WorkerRole | None = None


def build_platform(settings: Settings, overrides: PlatformOverrides | None = None) -> Platform:
    """The one way to assemble a process: `async with build_platform(settings) as p:`."""
    return Platform(settings, overrides or PlatformOverrides())


class Platform:
    """Every long-running service of one process, started in order and stopped in reverse."""

    def __init__(self, settings: Settings, overrides: PlatformOverrides) -> None:
        self.settings = settings
        self.overrides = overrides
        self.metrics = PlatformMetrics()
        self.health = HealthRegistry()
        self._stop_steps: list[StopStep] = []
        self.web_port: int | None = None
        self.initiator: CallInitiator | None = None
        self.scheduler: TaskSchedulerService | None = None
        self.analyzer: PostCallAnalyzer | None = None
        self.inbound: InboundCalls | None = None
        self.recordings: RecordingStore | None = None
        self.calls_missing: tuple[str, ...] = ()  # settings whose absence turns calls off
        self.webhooks: WebhookDeliveryService | None = None
        # Live events that wait for their transaction's commit (task status changes).
        self.relay = EventRelay()

    async def __aenter__(self) -> Platform:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        self._start_openai()
        await self._start_database()
        await self._start_messaging()
        if self.overrides.webhooks:
            await self._start_webhooks()
        await self._start_telephony()
        if self.overrides.task_engine:
            await self._start_task_engine()
        if self.initiator is not None and self.settings.inbound.enabled:
            await self._start_inbound()
        await self._start_reporting()
        if self.overrides.web:
            await self._start_web()
        log.info("platform started", extra={"node_id": self.node_id})

    @property
    def node_id(self) -> str:
        # Stable across restarts (so the lifecycle manager recognises a killed predecessor's
        # work at once) and unique per process on a host (each listens on its own port).
        port = self.settings.audiosocket.listen_port
        return self.settings.app.node_id or f"{socket.gethostname()}:{port}"

    def _on_stop(self, name: str, step: Callable[[], Awaitable[object]]) -> None:
        self._stop_steps.append((name, step))

    def _start_openai(self) -> None:
        """Built first, so a client that cannot be built fails start-up at once."""
        if self.overrides.openai is not None:
            self.openai: OpenAIClients | None = self.overrides.openai  # the caller closes them
            return
        self.openai = build_openai_clients(self.settings.openai)
        if self.openai is not None:
            self._on_stop("openai clients", self.openai.aclose)
            log.info("openai clients built", extra={"base_url": self.settings.openai.base_url})

    async def _start_database(self) -> None:
        db = self.settings.database
        await upgrade(db.url, self.settings.app.data_dir)
        engine = create_engine_for(db.url, self.settings.app.data_dir, echo=db.echo)
        self.sessions = session_factory(engine, after_commit=self.relay.put)
        self._on_stop("database", engine.dispose)

        async def check() -> ComponentHealth:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return ComponentHealth(True, engine.dialect.name)

        self.health.register("database", check)

    async def _start_web(self) -> None:
        web, s = self.settings.web, self.settings
        chat = self.openai.chat if self.openai is not None else None
        assistant = UiAssistantService.from_settings(
            self.sessions, chat, s.openai, s.places, s.calling, self.notifier
        )
        self._on_stop("chat assistant", assistant.aclose)
        deps = WebDeps(
            self.health,
            self.metrics,
            sessions=self.sessions,
            bus=self.bus,
            secret_key=load_or_create_secret_key(web.secret_key, self.settings.app.data_dir),
            default_region=self.settings.calling.default_region,
            assistant=assistant,
            control=CampaignControlService(self.sessions),
            outlook=TaskOutlookService(
                s.calling,
                calls_missing=self.calls_missing,
                unready=self._calls_unready if self.initiator is not None else None,
            ),
            max_sockets_per_user=web.max_sockets_per_user,
            max_body_bytes=web.max_body_bytes,
            webhook_allow_private=self.settings.webhook.allow_private_targets,
            ops_token=web.ops_token.get_secret_value() if web.ops_token else None,
            recordings_dir=self.settings.app.data_dir / "recordings",
            demo=self.overrides.demo,
            demo_line=self.overrides.demo_line,
            on_signup=self.overrides.on_signup,
        )
        server = WebServer(
            create_app(deps), web.host, web.port, forwarded_allow_ips=web.trusted_proxies
        )
        await server.start()
        self.web_port = server.port
        self._web = server
        self._on_stop("web", server.stop)

    async def _start_messaging(self) -> None:
        """The command bus and the call slots: Redis when configured, in-process otherwise."""
        redis_url = self.settings.redis.url
        self.bus = create_command_bus(redis_url)
        self._on_stop("command bus", self.bus.aclose)
        await self.relay.start(self.bus)
        self._on_stop("event relay", self.relay.stop)
        limit = self.settings.calling.max_concurrent_calls
        self.slots = self.overrides.slots or create_call_slots(redis_url, limit, self.node_id)
        await self.slots.start()
        self._on_stop("call slots", self.slots.aclose)
        if redis_url:
            self.health.register("redis", lambda: _redis_health(redis_url))
        self.notifier = Notifier(
            self.sessions,
            email=email_sender(self.settings.email),
            sms=sms_sender(self.settings.sms),
            bus=self.bus,
        )

    async def _start_webhooks(self) -> None:
        """The outbox's delivery worker; any process may send any user's webhooks."""
        webhooks = self.webhooks = WebhookDeliveryService(
            self.sessions, self.settings.webhook, self.node_id
        )
        await webhooks.start()
        grace = self.settings.app.shutdown_grace
        self._on_stop("webhooks", lambda: webhooks.stop(grace))

    async def _start_telephony(self) -> None:
        """AMI, the AudioSocket server and the call initiator (when calls can be placed)."""
        listen = self.settings.audiosocket
        self.audio_server = AudioSocketServer(
            listen.listen_host,
            listen.listen_port,
            first_frame_timeout=listen.first_frame_timeout,
            announce_wait=ANNOUNCE_WAIT if self.settings.inbound.enabled else 0.0,
            idle_timeout=listen.idle_timeout,
            read_batch_frames=self.settings.openai.input_batch_frames,
        )
        await self.audio_server.start()
        self._on_stop("audiosocket", self.audio_server.stop)
        self.metrics.gauge_from(
            self.metrics.audiosocket_sessions, lambda: self.audio_server.sessions_active
        )
        self.metrics.counters_from(
            "opendeep_playout_frames",
            "Outbound 20 ms frames written to Asterisk",
            ["kind"],
            lambda: _playout_reading(self.audio_server.playout_totals()),
        )
        self.metrics.counters_from(
            "opendeep_audiosocket_rejected",
            "Refused AudioSocket connections",
            ["reason"],
            lambda: [((reason,), n) for reason, n in self.audio_server.rejections.items()],
        )
        self.health.register(
            "audiosocket", lambda: ComponentHealth(True, listen.advertised_address)
        )
        missing = [
            name
            for name, value in (
                ("AMI_SECRET", self.settings.ami.secret),
                ("OPENAI_API_KEY", self.settings.openai.api_key),
            )
            if value is None
        ]
        self.calls_missing = tuple(missing)
        if missing or self.openai is None:
            reason = f"calls disabled: {', '.join(missing)} not set (python main.py doctor)"
            log.warning("calls disabled", extra={"missing": missing})
            self.health.register("calls", lambda: ComponentHealth(False, reason))
            return
        await self._start_ami()
        await self._start_initiator(self.openai.realtime)

    async def _start_ami(self) -> None:
        self.ami = AmiClient.from_settings(self.settings.ami)
        self.ami.add_state_listener(self._on_ami_state)
        await self.ami.start()  # connects in the background and keeps reconnecting
        self._on_stop("ami", self.ami.stop)

        def check() -> ComponentHealth:
            if self.ami.connected:
                return ComponentHealth(True, "logged in")
            return ComponentHealth(False, f"not connected: {self.ami.last_error or 'connecting'}")

        self.health.register("ami", check)

    async def _start_reporting(self) -> None:
        """Metrics copied for the scraping worker, and readiness told to worker 0 (both only
        under `run --workers N`; common/metrics.py, common/worker_readiness.py)."""
        await self.metrics.start()
        self._on_stop("metrics", self.metrics.stop)
        redis_url, worker = self.settings.redis.url, self.overrides.worker
        if worker is None or worker.count < 2 or redis_url is None:
            return
        readiness = WorkerReadiness(redis_url, worker, self.health)
        await readiness.start()
        self._on_stop("worker readiness", readiness.stop)

    def _on_ami_state(self, connected: bool) -> None:
        self.metrics.ami_connected.set(1 if connected else 0)
        if connected and self.ami.connections > 1:
            self.metrics.ami_reconnects.inc()

    async def _start_task_engine(self) -> None:
        """Lifecycle manager first (it recovers a killed predecessor's work), then the scheduler."""
        judge = None
        if self.openai is not None:
            judge = LlmJudge(self.openai.chat, self.settings.openai.chat_model)
        window = default_window(self.settings.calling)
        analyzer = self.analyzer = PostCallAnalyzer(self.sessions, judge, window=window)
        lifecycle = TaskLifecycleManagerService(
            sessions=self.sessions,
            analyzer=analyzer,
            notifier=self.notifier,
            node_id=self.node_id,
        )
        await lifecycle.start()
        self.lifecycle = lifecycle
        self._on_stop("lifecycle manager", lifecycle.stop)
        if self.initiator is None:
            return
        limit = self.settings.calling.max_concurrent_calls
        scheduler = self.scheduler = TaskSchedulerService(
            sessions=self.sessions,
            launcher=InitiatorLauncher(self.initiator, limit),
            on_call_done=analyzer.on_call_done,
            calling=self.settings.calling,
            node_id=self.node_id,
            poll_interval=self.overrides.scheduler_poll,
            lease=self.overrides.scheduler_lease,
            unready=self._calls_unready,
        )
        await scheduler.start()
        self._on_stop("scheduler", scheduler.stop)
        self.health.register(
            "scheduler",
            lambda: ComponentHealth(
                scheduler.paused_for is None,
                f"not claiming: {scheduler.paused_for}" if scheduler.paused_for else "claiming",
                required=False,
            ),
        )

    async def _calls_unready(self) -> str | None:
        """Why no call can be placed right now: AMI down, or the command bus down."""
        if not self.ami.connected:
            return f"AMI is not connected ({self.ami.last_error or 'connecting'})"
        return await self.bus.unready()

    def agent_talkers(self, realtime: AsyncOpenAI) -> AgentTalkerFactory:
        """The production talker factory: the AI agent with the person's senders as tools."""
        return AgentTalkerFactory(
            client=realtime,
            openai=self.settings.openai,
            sessions=self.sessions,
            bus=self.bus,
            senders=self.notifier.agent_tools(),
            metrics=self.metrics,
        )

    async def _start_recordings(self) -> RecordingStore:
        """Recordings of the calls this process places, picked up when Asterisk closes them."""
        store = RecordingStore(self.settings.recording, self.settings.app.data_dir, self.sessions)
        await store.start()
        self._on_stop("recordings", store.stop)
        self.ami.on_user_event(RECORDING_EVENT, store.on_event)
        return store

    async def _start_initiator(self, realtime: AsyncOpenAI) -> None:
        self.recordings = await self._start_recordings()
        made = self.overrides.talkers
        talkers = self.talkers = made(self) if made else self.agent_talkers(realtime)
        initiator = CallInitiator(
            ami=self.ami,
            audio_server=self.audio_server,
            bus=self.bus,
            slots=self.slots,
            sessions=self.sessions,
            dial=self.settings.dial,
            audiosocket_address=self.settings.audiosocket.advertised_address,
            media_websocket_client=self.settings.audiosocket.media_websocket_client,
            node_id=self.node_id,
            talkers=talkers,
            metrics=self.metrics,
            recordings=self.recordings,
        )
        await initiator.start()
        self.initiator = initiator
        grace = self.settings.app.shutdown_grace
        self._on_stop("calls", lambda: initiator.stop(grace))

    async def _start_inbound(self) -> None:
        """Calls Asterisk sends to [opendeep-inbound]; call-backs are judged like any call."""
        assert self.openai is not None
        deps = InboundDeps(
            ami=self.ami,
            audio_server=self.audio_server,
            bus=self.bus,
            slots=self.slots,
            sessions=self.sessions,
            talkers=self.talkers,
            messages=MessageTalkers(self.openai.realtime, self.settings.openai),
            dial=self.settings.dial,
            audiosocket_address=self.settings.audiosocket.advertised_address,
            region=self.settings.calling.default_region,
            node_id=self.node_id,
            metrics=self.metrics,
        )
        on_done = None if self.analyzer is None else CallbackOutcome(self.analyzer).on_call_done
        inbound = self.inbound = InboundCalls(deps, self.settings.inbound, on_done)
        await inbound.start()
        grace = self.settings.app.shutdown_grace
        self._on_stop("inbound calls", lambda: inbound.stop(grace))

    async def wait_failed(self) -> None:
        """Returns if a service the process cannot run without ends on its own."""
        if self.web_port is None:  # a calls-only worker: nothing here ends by itself
            await asyncio.Event().wait()
        await self._web.wait_ended()
        log.error("the web server stopped unexpectedly")

    @property
    def call_initiator(self) -> CallInitiator:
        """The call initiator, for callers that need calls (refuses when calls are off)."""
        if self.initiator is None:
            raise RuntimeError("calls are disabled: AMI_SECRET or OPENAI_API_KEY is not set")
        return self.initiator

    async def stop(self) -> None:
        """Reverse start order: web and schedulers first, calls next, connections last."""
        while self._stop_steps:
            name, step = self._stop_steps.pop()
            try:
                await asyncio.wait_for(step(), timeout=self.settings.app.shutdown_grace + 1)
            except Exception:
                log.exception("stopping %s failed", name)
        log.info("platform stopped")


def _playout_reading(totals: PlayoutTotals) -> list[tuple[tuple[str, ...], float]]:
    return [
        (("audio",), totals.frames - totals.silence),
        (("silence",), totals.silence),
        (("late",), totals.late),
        (("resync",), totals.resyncs),
    ]


async def _redis_health(url: str) -> ComponentHealth:
    return ComponentHealth(True, await probe_redis(url))
