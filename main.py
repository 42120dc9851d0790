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
import sys
from collections.abc import Awaitable, Callable, Sequence

from common.health import ComponentHealth, HealthRegistry
from common.metrics import PlatformMetrics
from config import ConfigError, Settings, load_settings
from config.report import settings_report

log = logging.getLogger("opendeep")
StopStep = tuple[str, Callable[[], Awaitable[object]]]


class Platform:
    """Every long-running service of one process, started in order and stopped in reverse."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = PlatformMetrics()
        self.health = HealthRegistry()
        self._stop_steps: list[StopStep] = []
        self._failed = asyncio.Event()
        self.web_port: int | None = None

    async def start(self) -> None:
        await self._start_database()
        await self._start_web()
        log.info("platform started")

    async def _start_database(self) -> None:
        from sqlalchemy import text

        from database.engine import create_engine_for, session_factory
        from database.migrate import upgrade

        db = self.settings.database
        await upgrade(db.url, self.settings.app.data_dir)
        engine = create_engine_for(db.url, self.settings.app.data_dir, echo=db.echo)
        self.sessions = session_factory(engine)
        self._stop_steps.append(("database", engine.dispose))

        async def check() -> ComponentHealth:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return ComponentHealth(True, engine.dialect.name)

        self.health.register("database", check)

    async def _start_web(self) -> None:
        from web_interface.app import WebDeps, create_app
        from web_interface.web_server import WebServer

        web = self.settings.web
        server = WebServer(create_app(WebDeps(self.health, self.metrics)), web.host, web.port)
        await server.start()
        self.web_port = server.port
        self._stop_steps.append(("web", server.stop))

    async def wait_failed(self) -> None:
        await self._failed.wait()

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
    await asyncio.wait({failed, stopping}, return_when=asyncio.FIRST_COMPLETED)
    failed.cancel()
    stopping.cancel()
    log.info("shutting down")
    await platform.stop()
    return 1 if failed.done() and not failed.cancelled() else 0


async def _create_user(settings: Settings, email: str, name: str, password: str | None) -> int:
    from database.engine import create_engine_for, session_factory
    from database.migrate import upgrade
    from database.repositories import users
    from web_interface.passwords import hash_password

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
    from database.migrate import upgrade

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


async def _probe_database(settings: Settings) -> str:
    from sqlalchemy import text

    from database.engine import create_engine_for

    engine = create_engine_for(settings.database.url, settings.app.data_dir)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return f"{engine.dialect.name} answers"
    finally:
        await engine.dispose()


async def _probe_redis(url: str) -> str:
    import redis.asyncio as redis

    client = redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        await client.ping()
        return "PING answered"
    finally:
        await client.aclose()


async def _probe_openai(settings: Settings) -> str:
    import httpx

    key = settings.openai.api_key
    headers = {"Authorization": f"Bearer {key.get_secret_value()}"} if key else {}
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(f"{settings.openai.base_url}/models", headers=headers)
    if response.status_code == 401:
        raise PermissionError("the server answers but rejects the API key (401)")
    return f"answers (HTTP {response.status_code})"


async def run_doctor(env_file: str) -> int:
    """Print every setting and probe each service; non-zero when something required fails."""
    lines, settings = settings_report(env_file)
    print("Settings:")
    for line in lines:
        print("  " + line.render())
    healthy = all(line.status == "ok" for line in lines)
    print("Services:")
    probes: list[tuple[str, Callable[[], Awaitable[str]]]] = [
        ("database", lambda: _probe_database(settings)),
        ("openai", lambda: _probe_openai(settings)),
    ]
    if settings.redis.url:
        probes.append(("redis", lambda: _probe_redis(settings.redis.url or "")))
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
    from common.log_context import configure_logging

    configure_logging(settings.app.log_level, settings.app.log_format)
    if command == "migrate":
        return asyncio.run(_migrate(settings))
    if command == "create-user":
        return asyncio.run(_create_user(settings, args.email, args.name, args.password))
    return asyncio.run(_run(settings))


if __name__ == "__main__":
    sys.exit(main())
