"""A local HTTP server speaking the one Twilio call we make, checking it the way Twilio does.

`LocalHttpServer` is a minimal HTTP/1.1 server on port 0 (one request per connection,
Content-Length bodies) that other fakes (the OpenAI chat endpoint) reuse.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from common.stream_server import StreamServer


@dataclass
class HttpRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode(), keep_blank_values=True, strict_parsing=False)

    def json(self) -> Any:
        return json.loads(self.body)

    def basic_auth(self) -> tuple[str, str] | None:
        scheme, _, value = self.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        user, _, password = base64.b64decode(value).decode().partition(":")
        return user, password


Handler = Callable[[HttpRequest], Awaitable[tuple[int, Any]]]


class LocalHttpServer:
    """One request per connection on 127.0.0.1:0; `handler` answers JSON. Subclasses that
    answer otherwise (a streamed reply) override `respond`."""

    def __init__(self, handler: Handler | None = None) -> None:
        self.handler = handler
        self.requests: list[HttpRequest] = []
        self._server: StreamServer | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> LocalHttpServer:
        self._server = StreamServer(self._serve, "local-http")
        await self._server.start()
        self.port = self._server.port
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        await self._server.stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await asyncio.wait_for(read_request(reader), 10)
        self.requests.append(request)
        await self.respond(request, writer)

    async def respond(self, request: HttpRequest, writer: asyncio.StreamWriter) -> None:
        assert self.handler is not None
        status, payload = await self.handler(request)
        await write_json(writer, status, payload)


async def write_json(writer: asyncio.StreamWriter, status: int, payload: Any) -> None:
    body = json.dumps(payload).encode()
    head = (
        f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    writer.write(head.encode() + body)
    await writer.drain()


async def read_request(reader: asyncio.StreamReader) -> HttpRequest:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    request_line, *header_lines = head.rstrip("\r\n").split("\r\n")
    method, path, _version = request_line.split(" ", 2)
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return HttpRequest(method, path, headers, body)


@dataclass
class FakeTwilio:
    """Accepts exactly POST /2010-04-01/Accounts/{sid}/Messages.json, form To/From/Body,
    basic auth sid:token; anything else gets Twilio-shaped errors."""

    account_sid: str = "AC" + "0" * 32
    auth_token: str = "test-auth-token-1234"
    sent: list[dict[str, str]] = field(default_factory=list)
    server: LocalHttpServer | None = None

    async def __aenter__(self) -> FakeTwilio:
        self.server = await LocalHttpServer(self._handle).__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        await self.server.__aexit__(*exc)

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return self.server.base_url

    async def _handle(self, request: HttpRequest) -> tuple[int, Any]:
        if request.basic_auth() != (self.account_sid, self.auth_token):
            return 401, {"code": 20003, "message": "Authenticate", "status": 401}
        if (request.method, request.path) != (
            "POST",
            f"/2010-04-01/Accounts/{self.account_sid}/Messages.json",
        ):
            return 404, {"code": 20404, "message": "not found", "status": 404}
        if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            return 400, {"code": 21601, "message": "form encoding expected", "status": 400}
        form = {k: v[0] for k, v in request.form().items()}
        missing = {"To", "From", "Body"} - set(form)
        if missing or len(form) != 3:
            return 400, {"code": 21604, "message": f"bad fields {sorted(form)}", "status": 400}
        self.sent.append(form)
        sid = "SM" + uuid.uuid4().hex
        return 201, {"sid": sid, "status": "queued", "to": form["To"], "body": form["Body"]}
