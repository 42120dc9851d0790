"""A local webhook receiver: a tiny HTTP/1.1 server on port 0 that keeps every request.

Why by hand on asyncio: the test decides each answer (500, then 200...) and reads each
request's exact bytes and headers, the way a real receiver's signature check must see
them. One request per connection (`Connection: close`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from common.stream_server import StreamServer
from common.webhook_events import WebhookEvent, decode


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    status: int  # what we answered
    at: float  # time.time() when it arrived

    @property
    def event(self) -> WebhookEvent:
        return decode(self.body)


Answer = Callable[[Received], int]


class WebhookReceiver:
    def __init__(self, answer: Answer | None = None, headers: str = "") -> None:
        """`headers`: extra response header lines, e.g. "Location: http://...\r\n"."""
        self.answer: Answer = answer or (lambda _r: 200)
        self.headers = headers
        self.received: list[Received] = []
        self._changed = asyncio.Condition()
        self._server = StreamServer(self._handle, "webhook-receiver")

    async def __aenter__(self) -> WebhookReceiver:
        await self._server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._server.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.port}/hooks/opendeep?source=test"

    async def wait_for(self, done: Callable[[list[Received]], bool], timeout: float) -> None:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: done(self.received))

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await self._read(reader)
        if request is None:
            return
        method, path, headers, body = request
        status = self.answer(Received(method, path, headers, body, 0, time.time()))
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n"
            f"{self.headers}\r\n".encode()
        )
        await writer.drain()
        async with self._changed:
            self.received.append(Received(method, path, headers, body, status, time.time()))
            self._changed.notify_all()

    @staticmethod
    async def _read(
        reader: asyncio.StreamReader,
    ) -> tuple[str, str, dict[str, str], bytes] | None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            return None
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        return parts[0], parts[1], headers, body
