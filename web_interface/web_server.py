"""uvicorn embedded in our process, with main.py in charge of signals and shutdown order.

Two things uvicorn does on its own that we decide instead:
- Whom to believe about the client's address: `X-Forwarded-For` only from the proxies in
  WEB_FORWARDED_ALLOW_IPS (none by default). uvicorn would trust 127.0.0.1, so anything
  on the host, or a spoofed header through a local proxy, could pick its own address and
  walk past the per-address login throttle.
- What reaches the log: uvicorn logs each WebSocket (and, if enabled, request) with its
  query string; query strings may carry tickets, so they are cut off (`NoQueryStrings`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

log = logging.getLogger(__name__)
UVICORN_LOGGERS = ("uvicorn.error", "uvicorn.access")
WS_MAX_MESSAGE = 64 * 1024  # clients send nothing we read; a 16 MiB default buys nothing


class NoQueryStrings(logging.Filter):
    """Cuts `?...` off request targets in uvicorn's log lines (they are passed as args)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_without_query(a) for a in record.args)
        return True


def _without_query(arg: object) -> object:
    if isinstance(arg, str) and arg.startswith("/") and "?" in arg:
        return arg.partition("?")[0]
    return arg


_FILTER = NoQueryStrings()


def scrub_uvicorn_logs() -> None:
    """Idempotent: the filter is added once per logger."""
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # main.py owns SIGINT/SIGTERM; uvicorn must not install (and later re-raise) its own.
        yield


class WebServer:
    def __init__(
        self, app: FastAPI, host: str, port: int, forwarded_allow_ips: list[str] | None = None
    ) -> None:
        trusted = list(forwarded_allow_ips or [])
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            lifespan="off",
            log_config=None,
            access_log=False,
            proxy_headers=bool(trusted),
            forwarded_allow_ips=trusted,
            ws_max_size=WS_MAX_MESSAGE,
        )
        scrub_uvicorn_logs()
        self._server = _EmbeddedServer(config)
        self._task: asyncio.Task[None] | None = None
        self.host, self.port = host, port

    async def start(self) -> None:
        """Start serving; returns once the socket is bound, raises if it cannot be."""
        self._task = asyncio.create_task(self._serve(), name="web:uvicorn")
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise OSError(f"web server could not listen on {self.host}:{self.port}")
            await asyncio.sleep(0.02)
        if self.port == 0:  # the OS picked one; report the real port (tests, logs)
            self.port = self._server.servers[0].sockets[0].getsockname()[1]
        log.info("web listening", extra={"host": self.host, "port": self.port})

    async def _serve(self) -> None:
        try:
            await self._server.serve()
        except SystemExit as exc:  # uvicorn exits on a bind failure; keep it a normal error
            raise OSError(f"web server failed to start (exit {exc.code})") from None

    async def wait_ended(self) -> None:
        """Returns when the server stops serving, for whatever reason."""
        if self._task is not None:
            await asyncio.wait([self._task])

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self, timeout: float = 3.0) -> None:
        if self._task is None:
            return
        self._server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except TimeoutError:
            self._server.force_exit = True
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        except Exception:
            log.exception("web server ended with an error")
