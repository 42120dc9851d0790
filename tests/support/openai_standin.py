"""One local base URL with both OpenAI endpoints the doctor checks, or a broken variant.

The Realtime handshake is websockets' own sans-I/O server protocol, so the SDK meets a real
WebSocket upgrade; chat completions answer one non-streamed completion. `realtime` picks
what the socket does after the upgrade: "created" sends `session.created` as the real
service does on connect, "silent" sends nothing (the doctor must not wait forever).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Literal

from websockets.datastructures import Headers
from websockets.http11 import Request
from websockets.server import ServerProtocol

from tests.support.fake_twilio import HttpRequest, LocalHttpServer, read_request, write_json

Realtime = Literal["created", "silent"]


class OpenAIStandIn(LocalHttpServer):
    def __init__(self, realtime: Realtime = "created", key: str = "sk-test-doctor") -> None:
        super().__init__()
        self.realtime = realtime
        self.key = key
        self.seen: list[str] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(read_request(reader), 10)
            self.seen.append(f"{request.method} {request.path.split('?')[0]}")
            if request.headers.get("authorization") != f"Bearer {self.key}":
                await write_json(writer, 401, {"error": {"message": "Incorrect API key"}})
            elif request.path.startswith("/v1/realtime") and "upgrade" in request.headers:
                await self._realtime(request, writer)
                await asyncio.wait_for(reader.read(), 30)  # until the client leaves
            else:
                await self.respond(request, writer)
        finally:
            writer.close()

    async def respond(self, request: HttpRequest, writer: asyncio.StreamWriter) -> None:
        if (request.method, request.path) == ("POST", "/v1/chat/completions"):
            await write_json(writer, 200, completion(request.json()))
        else:
            await write_json(writer, 404, {"error": {"message": "not found"}})

    async def _realtime(self, request: HttpRequest, writer: asyncio.StreamWriter) -> None:
        protocol = ServerProtocol()
        handshake = Request(request.path, Headers(request.headers))
        protocol.send_response(protocol.accept(handshake))
        if self.realtime == "created":
            created = {"type": "session.created", "event_id": "event_1", "session": {}}
            protocol.send_text(json.dumps(created).encode())
        for data in protocol.data_to_send():
            writer.write(data)
        await writer.drain()


def completion(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-doctor", "object": "chat.completion", "created": 0,
        "model": body.get("model", ""),
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "OK"}}],
    }  # fmt: skip


class HtmlPage(LocalHttpServer):
    """A plain web server: every path is a 200 HTML page (a wrong OPENAI_BASE_URL)."""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def respond(self, request: HttpRequest, writer: asyncio.StreamWriter) -> None:
        body = b"<!doctype html><html><body>Welcome to nginx!</body></html>"
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\nConnection: close\r\n\r\n"
            + body
        )
        await writer.drain()
