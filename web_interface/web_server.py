"""uvicorn embedded in our process, with main.py in charge of signals and shutdown order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

log = logging.getLogger(__name__)


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # main.py owns SIGINT/SIGTERM; uvicorn must not install (and later re-raise) its own.
        yield


class WebServer:
    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        config = uvicorn.Config(
            app, host=host, port=port, lifespan="off", log_config=None, access_log=False
        )
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
