"""OpenDeep launcher: `python main.py [run|doctor|migrate|create-user]`.

The composition root. It alone reads Settings as a whole, builds every service, owns
SIGINT/SIGTERM (a signal only sets a flag) and stops services in order: stop taking new
work, end calls in progress, then close connections.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy import text

from audio_processing.audio_socket_server import AudioSocketServer
from audio_processing.playout import PlayoutTotals
from audio_processing.realtime_session import make_client, probe_openai
from call_processor.agent_talker import AgentTalkerFactory
from call_processor.ami_client import AmiClient, probe_ami
from call_processor.call_initiator import CallInitiator
from call_processor.call_slots import create_call_slots
from common.command_bus import create_command_bus, probe_redis
from common.health import ComponentHealth, HealthRegistry
from common.log_context import configure_logging
from common.metrics import PlatformMetrics
from common.owned_tasks import cancel_and_wait
from config import ConfigError, Settings, load_settings
from config.report import settings_report
from database.engine import create_engine_for, probe_database, session_factory
from database.migrate import upgrade
from database.repositories import users
from task_manager.call_judge import LlmJudge
from task_manager.initiator_launcher import InitiatorLauncher
from task_manager.lifecycle_manager import TaskLifecycleManagerService
from task_manager.notifier import Notifier
from task_manager.post_call_analyzer import PostCallAnalyzer
from task_manager.scheduler import TaskSchedulerService
from task_manager.senders import email_sender, sms_sender
from task_manager.ui_assistant_svc import UiAssistantService
from web_interface.app import WebDeps, create_app
from web_interface.passwords import hash_password
from web_interface.secret_key import load_or_create_secret_key
from web_interface.web_server import WebServer

log = logging.getLogger("opendeep")
StopStep = tuple[str, Callable[[], Awaitable[object]]]


class Platform:
    """Every long-running service of one process, started in order and stopped in reverse."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = PlatformMetrics()
        self.health = HealthRegistry()
        self._stop_steps: list[StopStep] = []
        self.web_port: int | None = None

    async def start(self) -> None:
        await self._start_database()
        await self._start_messaging()
        await self._start_telephony()
        await self._start_task_engine()
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

    async def _start_database(self) -> None:
        db = self.settings.database
        await upgrade(db.url, self.settings.app.data_dir)
        engine = create_engine_for(db.url, self.settings.app.data_dir, echo=db.echo)
        self.sessions = session_factory(engine)
        self._on_stop("database", engine.dispose)

        async def check() -> ComponentHealth:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return ComponentHealth(True, engine.dialect.name)

        self.health.register("database", check)

    async def _start_web(self) -> None:
        web, s = self.settings.web, self.settings
        assistant = UiAssistantService.from_settings(self.sessions, s.openai, s.places, s.calling)
        self._on_stop("chat assistant", assistant.aclose)
        deps = WebDeps(
            self.health,
            self.metrics,
            sessions=self.sessions,
            bus=self.bus,
            secret_key=load_or_create_secret_key(web.secret_key, self.settings.app.data_dir),
            default_region=self.settings.calling.default_region,
            assistant=assistant,
        )
        server = WebServer(create_app(deps), web.host, web.port)
        await server.start()
        self.web_port = server.port
        self._web = server
        self._on_stop("web", server.stop)

    async def _start_messaging(self) -> None:
        """The command bus and the call slots: Redis when configured, in-process otherwise."""
        redis_url = self.settings.redis.url
        self.bus = create_command_bus(redis_url)
        self._on_stop("command bus", self.bus.aclose)
        limit = self.settings.calling.max_concurrent_calls
        self.slots = create_call_slots(redis_url, limit, self.node_id)
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

    async def _start_telephony(self) -> None:
        """AMI, the AudioSocket server and the call initiator (when calls can be placed)."""
        listen = self.settings.audiosocket
        self.audio_server = AudioSocketServer(listen.listen_host, listen.listen_port)
        await self.audio_server.start()
        self._on_stop("audiosocket", self.audio_server.stop)
        self.metrics.audiosocket_sessions.set_function(lambda: self.audio_server.sessions_active)
        self.metrics.counters_from(
            "opendeep_playout_frames",
            "Outbound 20 ms frames written to Asterisk",
            ["kind"],
            lambda: _playout_reading(self.audio_server.playout_totals()),
        )
        self.health.register(
            "audiosocket", lambda: ComponentHealth(True, listen.advertised_address)
        )
        self.initiator = None
        missing = [
            name
            for name, value in (
                ("AMI_SECRET", self.settings.ami.secret),
                ("OPENAI_API_KEY", self.settings.openai.api_key),
            )
            if value is None
        ]
        if missing:
            reason = f"calls disabled: {', '.join(missing)} not set (python main.py doctor)"
            log.warning("calls disabled", extra={"missing": missing})
            self.health.register("calls", lambda: ComponentHealth(False, reason))
            return
        await self._start_ami()
        await self._start_initiator()

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

    def _on_ami_state(self, connected: bool) -> None:
        self.metrics.ami_connected.set(1 if connected else 0)
        if connected and self.ami.connections > 1:
            self.metrics.ami_reconnects.inc()

    async def _start_task_engine(self) -> None:
        """Lifecycle manager first (it recovers a killed predecessor's work), then the scheduler."""
        judge = LlmJudge(self.settings.openai) if self.settings.openai.api_key else None
        analyzer = PostCallAnalyzer(self.sessions, judge)
        lifecycle = TaskLifecycleManagerService(
            sessions=self.sessions,
            analyzer=analyzer,
            notifier=self.notifier,
            node_id=self.node_id,
        )
        await lifecycle.start()
        self._on_stop("lifecycle manager", lifecycle.stop)
        if self.initiator is None:
            return
        limit = self.settings.calling.max_concurrent_calls
        scheduler = TaskSchedulerService(
            sessions=self.sessions,
            launcher=InitiatorLauncher(self.initiator, limit),
            on_call_done=analyzer.on_call_done,
            calling=self.settings.calling,
            node_id=self.node_id,
        )
        await scheduler.start()
        self._on_stop("scheduler", scheduler.stop)

    async def _start_initiator(self) -> None:
        openai = self.settings.openai
        key = openai.api_key.get_secret_value() if openai.api_key else ""
        talkers = AgentTalkerFactory(
            client=make_client(key, openai.base_url),
            openai=openai,
            sessions=self.sessions,
            bus=self.bus,
            senders=self.notifier.agent_tools(),
            metrics=self.metrics,
        )
        self.initiator = CallInitiator(
            ami=self.ami,
            audio_server=self.audio_server,
            bus=self.bus,
            slots=self.slots,
            sessions=self.sessions,
            dial=self.settings.dial,
            audiosocket_address=self.settings.audiosocket.advertised_address,
            node_id=self.node_id,
            talkers=talkers,
            metrics=self.metrics,
        )
        await self.initiator.start()
        grace = self.settings.app.shutdown_grace
        self._on_stop("calls", lambda: self.initiator.stop(grace))  # type: ignore[union-attr]

    async def wait_failed(self) -> None:
        """Returns if a service the process cannot run without ends on its own."""
        await self._web.wait_ended()
        log.error("the web server stopped unexpectedly")

    async def stop(self) -> None:
        """Reverse start order: web and schedulers first, calls next, connections last."""
        while self._stop_steps:
            name, step = self._stop_steps.pop()
            try:
                await asyncio.wait_for(step(), timeout=self.settings.app.shutdown_grace + 1)
            except Exception:
                log.exception("stopping %s failed", name)
        log.info("platform stopped")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="main.py", description=__doc__.splitlines()[0])
    parser.add_argument("--env-file", default=".env", help="dotenv file to read (default .env)")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="run the platform (default)")
    sub.add_parser("doctor", help="check every setting and the services they point to")
    sub.add_parser("migrate", help="upgrade the database schema to the latest version")
    create = sub.add_parser("create-user", help="create an account")
    create.add_argument("--email", required=True)
    create.add_argument("--name", default="")
    create.add_argument("--password", help="read from the terminal when omitted")
    return parser


def _load(env_file: str) -> Settings:
    try:
        return load_settings(env_file=env_file)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"config error: {problem}", file=sys.stderr)
        raise SystemExit(2) from None


async def _run(settings: Settings) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    platform = Platform(settings)
    try:
        await platform.start()
    except Exception as exc:
        log.error("start-up failed: %s", exc)
        await platform.stop()
        return 1
    failed = asyncio.create_task(platform.wait_failed(), name="platform:watch")
    stopping = asyncio.create_task(stop.wait(), name="platform:signal")
    done, _ = await asyncio.wait({failed, stopping}, return_when=asyncio.FIRST_COMPLETED)
    crashed = failed in done
    await cancel_and_wait(failed, stopping)
    log.info("shutting down")
    await platform.stop()
    return 1 if crashed else 0


def _playout_reading(totals: PlayoutTotals) -> list[tuple[tuple[str, ...], float]]:
    return [
        (("audio",), totals.frames - totals.silence),
        (("silence",), totals.silence),
        (("late",), totals.late),
        (("resync",), totals.resyncs),
    ]


async def _redis_health(url: str) -> ComponentHealth:
    return ComponentHealth(True, await probe_redis(url))


async def _create_user(settings: Settings, email: str, name: str, password: str | None) -> int:
    secret = password or getpass.getpass("Password: ")
    if len(secret) < 8:
        print("error: the password must have at least 8 characters", file=sys.stderr)
        return 2
    await upgrade(settings.database.url, settings.app.data_dir)
    engine = create_engine_for(settings.database.url, settings.app.data_dir)
    try:
        async with session_factory(engine)() as session, session.begin():
            if await users.get_by_email(session, email) is not None:
                print(f"error: an account for {email} exists already", file=sys.stderr)
                return 1
            user = await users.create(
                session, email=email, password_hash=hash_password(secret), display_name=name
            )
        print(f"created user {user.id} <{email}>")
        return 0
    finally:
        await engine.dispose()


async def _migrate(settings: Settings) -> int:
    await upgrade(settings.database.url, settings.app.data_dir)
    print("database is at the latest schema")
    return 0


async def _probe(name: str, probe: Callable[[], Awaitable[str]], timeout: float = 6.0) -> bool:
    try:
        detail = await asyncio.wait_for(probe(), timeout)
    except TimeoutError:
        print(f"{'fail':<8} {name}  (no answer within {timeout:.0f}s)")
        return False
    except Exception as exc:
        print(f"{'fail':<8} {name}  ({type(exc).__name__}: {str(exc)[:160]})")
        return False
    print(f"{'ok':<8} {name}  ({detail})")
    return True


async def run_doctor(env_file: str) -> int:
    """Print every setting and probe each service; non-zero when something required fails."""
    lines, settings = settings_report(env_file)
    print("Settings:")
    for line in lines:
        print("  " + line.render())
    healthy = all(line.status == "ok" for line in lines)
    print("Services:")
    probes: list[tuple[str, Callable[[], Awaitable[str]]]] = [
        ("database", lambda: probe_database(settings.database.url, settings.app.data_dir)),
        ("openai", lambda: probe_openai(settings.openai)),
    ]
    if settings.ami.secret is not None:
        probes.append(("ami", lambda: probe_ami(settings.ami)))
    else:
        print(f"{'fail':<8} ami  (AMI_SECRET is not set)")
        healthy = False
    if settings.redis.url:
        probes.append(("redis", lambda: probe_redis(settings.redis.url or "")))
    else:
        print(f"{'ok':<8} redis  (REDIS_URL unset: in-process bus and call limit)")
    for name, probe in probes:
        healthy &= await _probe(name, probe)
    print("doctor: all good" if healthy else "doctor: problems found (see above)")
    return 0 if healthy else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = args.command or "run"
    if command == "doctor":
        logging.basicConfig(level=logging.ERROR)
        return asyncio.run(run_doctor(args.env_file))
    settings = _load(args.env_file)
    configure_logging(settings.app.log_level, settings.app.log_format)
    if command == "migrate":
        return asyncio.run(_migrate(settings))
    if command == "create-user":
        return asyncio.run(_create_user(settings, args.email, args.name, args.password))
    loop_factory = None
    if settings.app.event_loop == "uvloop":
        import uvloop  # a pinned dependency; imported only when chosen

        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(_run(settings))


if __name__ == "__main__":
    sys.exit(main())
