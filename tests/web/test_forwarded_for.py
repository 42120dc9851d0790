"""Whom the server believes about a client's address: X-Forwarded-For only from the proxies
in WEB_FORWARDED_ALLOW_IPS, none by default. Against a real uvicorn, which is what reads
the header.

Before, uvicorn trusted the header from 127.0.0.1, so 40 failed logins with a rotating
X-Forwarded-For each came "from" a new address and never met the throttle (issue 13).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx

from tests.web.conftest import Web, csrf_from
from web_interface.web_server import WebServer


@asynccontextmanager
async def serving(web: Web, trusted: list[str] | None = None) -> AsyncIterator[str]:
    server = WebServer(web.app, "127.0.0.1", 0, forwarded_allow_ips=trusted)
    await server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.stop(timeout=5)


async def _rotating_failures(base: str, attempts: int) -> list[int]:
    """Wrong passwords for new accounts, each "forwarded for" a new address."""
    statuses = []
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        token = csrf_from((await client.get("/login")).text)
        for n in range(attempts):
            response = await client.post(
                "/login",
                data={"csrf_token": token, "email": f"u{n}@example.com", "password": "guess"},
                headers={"X-Forwarded-For": f"198.51.100.{n + 1}"},
            )
            statuses.append(response.status_code)
    return statuses


async def test_forwarded_for_is_ignored_unless_its_proxy_is_trusted(
    make_web: Callable[..., Web],
) -> None:
    async with serving(make_web()) as base:
        statuses = await _rotating_failures(base, 40)
    assert statuses[:10] == [401] * 10
    assert 429 in statuses  # all 40 came from 127.0.0.1, whatever the header said

    async with serving(make_web(), trusted=["127.0.0.1"]) as base:  # behind a local proxy
        statuses = await _rotating_failures(base, 15)
    assert statuses == [401] * 15  # 15 real clients, one failure each
