"""A real SMTP server (aiosmtpd) on port 0 inside the test's event loop, keeping what it got."""

from __future__ import annotations

import asyncio
import email
from email.message import Message
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session


class _Collector:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.envelopes: list[Envelope] = []
        self.arrived = asyncio.Event()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        content: Any = envelope.original_content or envelope.content
        self.messages.append(email.message_from_bytes(content))
        self.arrived.set()
        return "250 OK"


class LocalSmtpServer:
    def __init__(self) -> None:
        self.collector = _Collector()
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def messages(self) -> list[Message]:
        return self.collector.messages

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Message]:
        async with asyncio.timeout(timeout):
            while len(self.messages) < count:
                self.collector.arrived.clear()
                await self.collector.arrived.wait()
        return self.messages

    async def __aenter__(self) -> LocalSmtpServer:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(self.collector, hostname="localhost"), "127.0.0.1", 0
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
