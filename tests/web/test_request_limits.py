"""Request bodies: 413 over the limit, before parsing and before authentication.

Against a real uvicorn for the two ways a body arrives (a declared Content-Length, and
chunked with no length), and over ASGI for where in the app the refusal happens.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

import pytest

from tests.web.conftest import Web
from web_interface.web_server import WebServer

MIB = 1024 * 1024
JSON = {"content-type": "application/json"}
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture
async def port(web: Web) -> AsyncIterator[int]:
    server = WebServer(web.app, "127.0.0.1", 0)
    await server.start()
    try:
        yield server.port
    finally:
        await server.stop(timeout=5)


async def _status_after(port: int, head: str, body_chunks: list[bytes]) -> int:
    """Send a request head and body chunks (stopping when the server hangs up); the status."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head.encode())
        for chunk in body_chunks:
            if reader.at_eof() or writer.is_closing():
                break
            writer.write(chunk)
            try:
                await writer.drain()
            except ConnectionError:
                break  # the server answered and closed: expected when it refuses early
        line = await asyncio.wait_for(reader.readline(), 5)
        return int(line.split()[1])
    finally:
        writer.close()


async def test_request_body_limit_413_before_parsing_and_before_auth(web: Web, port: int) -> None:
    anonymous = web.client()
    big = json.dumps({"message": "x" * (2 * MIB)})
    refused = await anonymous.post("/api/chat", content=big, headers=JSON)
    assert refused.status_code == 413  # not 401: nothing behind the limit ran
    assert f"{MIB} bytes" in refused.json()["detail"]
    login = await anonymous.post("/login", content=b"email=a&" + b"x" * (2 * MIB), headers=FORM)
    assert login.status_code == 413  # not 403 for the missing CSRF token

    # Declared lengths over the limit are answered at once, the bodies never read: four
    # 200 MB requests are refused while only their headers have been sent.
    head = ("POST /api/chat HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            f"Content-Length: {200 * MIB}\r\n\r\n")  # fmt: skip
    statuses = await asyncio.gather(*(_status_after(port, head, []) for _ in range(4)))
    assert statuses == [413] * 4

    # Chunked (no length): counted as it arrives, refused once past the limit.
    head = ("POST /api/chat HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n")  # fmt: skip
    piece = 64 * 1024
    chunks = [b"%x\r\n%s\r\n" % (piece, b"x" * piece) for _ in range(40)] + [b"0\r\n\r\n"]
    assert await _status_after(port, head, chunks) == 413
    small = [b"%x\r\n%s\r\n" % (2, b"{}"), b"0\r\n\r\n"]
    assert await _status_after(port, head, small) == 401  # under the limit: on to the login


async def test_bodies_within_the_limit_reach_the_routes(make_web: Callable[..., Web]) -> None:
    web = make_web(max_body_bytes=4096)
    client = await web.user("a@example.com")
    at_limit = json.dumps({"phone_number": "+14155550100", "reason": "r" * 3900})
    assert len(at_limit) <= 4096
    assert (await client.post("/api/dnd", content=at_limit, headers=JSON)).status_code == 422
    over = json.dumps({"phone_number": "+14155550100", "reason": "r" * 4100})
    response = await client.post("/api/dnd", content=over, headers=JSON)
    assert response.status_code == 413
    ok = await client.post("/api/dnd", json={"phone_number": "+14155550100", "reason": "asked"})
    assert ok.status_code == 201
    bad_length = await client.post("/api/dnd", content=b"{}", headers={"content-length": "2x"})
    assert bad_length.status_code == 400
