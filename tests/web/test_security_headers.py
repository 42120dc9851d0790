"""Headers on every response (CSP without inline script, no framing, nosniff, referrer
policy, no-store on private pages and API answers) and ops endpoints kept to ops.

Before: none of those headers; Back after logout showed the profile and its tokens from
the cache; /readyz and /metrics showed component errors to anyone (issue 13).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx

from tests.web.conftest import Web
from tests.web.seed import seed_user_data
from web_interface.security_headers import CSP

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>")
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)
INLINE_STYLE = re.compile(r"<[^>]+\sstyle\s*=", re.IGNORECASE)


def _from(web: Web, address: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=web.app, client=(address, 50000)),
        base_url="http://testserver",
    )
    web.clients.append(client)
    return client


def _guarded(response: httpx.Response, private: bool = True) -> None:
    headers = response.headers
    assert headers["content-security-policy"] == CSP, response.url
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert (headers.get("cache-control") == "no-store") is private, response.url


async def test_csp_no_inline_script_frame_deny_nosniff_referrer_and_no_store(web: Web) -> None:
    assert "script-src 'self'" in CSP
    assert "unsafe-inline" not in CSP
    assert "frame-ancestors 'none'" in CSP
    client = await web.user("a@example.com")
    seeded = await seed_user_data(web.sessions, "a@example.com")
    pages = ["/", "/profile", "/dnd", "/chat", "/notifications",
             f"/calls/{seeded.call_id}", f"/campaigns/{seeded.campaign_id}"]  # fmt: skip
    for path in pages:
        response = await client.get(path)
        assert response.status_code == 200, path
        _guarded(response)
        html = response.text
        assert not INLINE_SCRIPT.search(html), path
        assert not INLINE_HANDLER.search(html), path
        assert not INLINE_STYLE.search(html), path
    for path in ["/api/profile", "/api/tokens", "/api/campaigns", "/api/notifications"]:
        _guarded(await client.get(path))
    anonymous = web.client()
    for path in ["/login", "/signup", "/healthz"]:
        _guarded(await anonymous.get(path))
    _guarded(await anonymous.get("/api/profile"))  # a 401 is private too
    _guarded(await anonymous.get("/static/app.js"), private=False)  # public, may be cached


async def test_readyz_details_and_metrics_only_from_loopback_or_with_the_ops_token(
    make_web: Callable[..., Web],
) -> None:
    web = make_web(ops_token="ops-secret-123")
    remote = _from(web, "203.0.113.5")
    assert (await remote.get("/healthz")).json() == {"status": "ok"}
    plain = await remote.get("/readyz")
    assert plain.json() == {"status": "ready"}
    assert (await remote.get("/metrics")).status_code == 403
    for wrong in ["Bearer nope", "Basic ops-secret-123", "Bearer "]:
        remote.headers["Authorization"] = wrong
        assert "components" not in (await remote.get("/readyz")).json()
        assert (await remote.get("/metrics")).status_code == 403
    remote.headers["Authorization"] = "Bearer ops-secret-123"
    assert "components" in (await remote.get("/readyz")).json()
    metrics = await remote.get("/metrics")
    assert metrics.status_code == 200
    assert "# HELP" in metrics.text

    local = _from(web, "127.0.0.1")
    assert "components" in (await local.get("/readyz")).json()
    assert (await local.get("/metrics")).status_code == 200
    proxied = _from(web, "::1")  # a proxy on this host passing someone else's request
    proxied.headers["X-Forwarded-For"] = "198.51.100.7"
    assert "components" not in (await proxied.get("/readyz")).json()
    assert (await proxied.get("/metrics")).status_code == 403
    no_token = _from(make_web(), "203.0.113.5")
    no_token.headers["Authorization"] = "Bearer anything"
    assert (await no_token.get("/metrics")).status_code == 403
