"""Accounts: sign up, log in/out, sessions (signed, server-side expiry), CSRF, rate limit."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
from pydantic import SecretStr
from sqlalchemy import select

from database.models import AccessToken, User
from tests.web.conftest import PASSWORD, Web, csrf_from, form_token, log_in, sign_up
from web_interface.login_throttle import LoginThrottle
from web_interface.secret_key import load_or_create_secret_key
from web_interface.security import SESSION_COOKIE


async def test_sign_up_logs_in_and_stores_only_an_argon2_hash(web: Web) -> None:
    client = web.client()
    response = await sign_up(client, "Ann@Example.com", name="Ann")
    assert response.headers["location"] == "/"
    page = await client.get("/")
    assert page.status_code == 200
    assert "Dashboard" in page.text
    async with web.sessions() as s:
        user = await s.scalar(select(User).where(User.email == "ann@example.com"))
        token_rows = list(await s.scalars(select(AccessToken)))
    assert user is not None
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    cookie = client.cookies[SESSION_COOKIE]
    secret = cookie.rpartition(".")[0]
    assert [r.token_hash for r in token_rows] != [secret]  # the secret itself is not stored
    assert all(secret not in r.token_hash for r in token_rows)


async def test_session_cookie_is_httponly_lax_and_secure_over_https(web: Web) -> None:
    plain = await sign_up(web.client(), "a@example.com")
    cookie = plain.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "samesite=lax" in cookie.lower()
    assert "secure" not in cookie.lower()
    secure = await sign_up(web.client("https://testserver"), "b@example.com")
    assert "secure" in secure.headers["set-cookie"].lower()


async def test_signup_refuses_taken_email_short_password_and_bad_email(web: Web) -> None:
    await sign_up(web.client(), "a@example.com")
    client = web.client()
    token = await form_token(client, "/signup")
    cases = [
        ({"email": "A@example.com", "password": PASSWORD}, 409, "exists already"),
        ({"email": "c@example.com", "password": "short"}, 422, "at least 10"),
        ({"email": "not-an-email", "password": PASSWORD}, 422, "email address"),
        ({"email": "x" * 400 + "@example.com", "password": PASSWORD}, 422, "email"),
    ]
    for fields, code, message in cases:
        response = await client.post("/signup", data={"csrf_token": token, **fields})
        assert response.status_code == code, fields
        assert message in response.text
    async with web.sessions() as s:
        assert len(list(await s.scalars(select(User)))) == 1


async def test_login_logout_and_the_old_cookie_is_dead(web: Web) -> None:
    await sign_up(web.client(), "a@example.com")
    client = web.client()
    response = await log_in(client, "a@example.com")
    assert response.status_code == 303
    assert (await client.get("/api/profile")).status_code == 200
    old_cookie = client.cookies[SESSION_COOKIE]
    token = csrf_from((await client.get("/")).text)
    response = await client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 303
    assert SESSION_COOKIE not in client.cookies
    replay = web.client()
    replay.cookies.set(SESSION_COOKIE, old_cookie)
    assert (await replay.get("/api/profile")).status_code == 401  # revoked on the server


async def test_wrong_password_and_unknown_email_look_the_same(web: Web) -> None:
    await sign_up(web.client(), "a@example.com")
    wrong = await log_in(web.client(), "a@example.com", "wrong password")
    unknown = await log_in(web.client(), "nobody@example.com", "wrong password")
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong email or password." in wrong.text
    assert "Wrong email or password." in unknown.text
    assert SESSION_COOKIE not in wrong.cookies


async def test_session_expires_on_the_server(make_web: Callable[..., Web]) -> None:
    web = make_web(session_lifetime=timedelta(0))
    client = web.client()
    await sign_up(client, "a@example.com")
    assert (await client.get("/api/profile")).status_code == 401
    page = await client.get("/profile")
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=/profile"


async def test_forged_or_foreign_key_cookie_is_refused(make_web: Callable[..., Web]) -> None:
    web = make_web(secret_key=b"a" * 32)
    client = web.client()
    await sign_up(client, "a@example.com")
    cookie = client.cookies[SESSION_COOKIE]
    secret, _, mac = cookie.rpartition(".")
    other = make_web(secret_key=b"b" * 32).client()
    other.cookies.set(SESSION_COOKIE, cookie)  # right secret, signed with another key
    assert (await other.get("/api/profile")).status_code == 401
    tampered = web.client()
    tampered.cookies.set(SESSION_COOKIE, f"{secret}.{'0' * len(mac)}")
    assert (await tampered.get("/api/profile")).status_code == 401


async def test_failed_logins_slow_that_address_down_with_growing_delays(
    make_web: Callable[..., Web],
) -> None:
    now = [0.0]
    web = make_web(login_throttle=LoginThrottle(clock=lambda: now[0]))
    await sign_up(web.client(), "a@example.com")
    client = web.client()
    for _ in range(3):  # free
        assert (await log_in(client, "a@example.com", "nope nope")).status_code == 401
    waits = []
    for _ in range(5):
        assert (await log_in(client, "a@example.com", "nope nope")).status_code == 401
        refused = await log_in(client, "a@example.com", PASSWORD)  # even the right one
        assert refused.status_code == 429
        assert "Too many failed attempts" in refused.text
        assert SESSION_COOKIE not in refused.cookies
        waits.append(int(refused.headers["retry-after"]))
        now[0] += waits[-1]
    assert waits == [1, 2, 4, 8, 16]
    assert (await log_in(client, "a@example.com", PASSWORD)).status_code == 303


async def test_login_throttling_by_account_and_address_not_a_lock_anyone_can_trigger(
    make_web: Callable[..., Web],
) -> None:
    """An attacker failing at a victim's account slows only itself: the victim, from an
    address that has not been failing, logs in with the right password."""
    web = make_web()
    await sign_up(web.client(), "victim@example.com")
    attacker = _client_at(web, "203.0.113.7")
    statuses = [(await log_in(attacker, "victim@example.com", f"guess {n}")).status_code
                for n in range(20)]  # fmt: skip
    assert statuses[:3] == [401] * 3
    assert 429 in statuses  # the guesser is slowed down
    victim = _client_at(web, "198.51.100.2")
    assert (await log_in(victim, "victim@example.com", PASSWORD)).status_code == 303
    # Many accounts from one address (spraying): the address itself is slowed down.
    sprayer = _client_at(web, "203.0.113.99")
    sprayed = [(await log_in(sprayer, f"u{n}@example.com", "password1")).status_code
               for n in range(15)]  # fmt: skip
    assert sprayed[:10] == [401] * 10
    assert 429 in sprayed[10:]


def _client_at(web: Web, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=web.app, client=(address, 40000))
    client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
    web.clients.append(client)
    return client


def test_throttle_delays_double_cap_and_are_forgotten() -> None:
    now = [0.0]
    throttle = LoginThrottle(free_per_pair=1, free_per_address=3, max_delay=20,
                             forget_after=100, clock=lambda: now[0])  # fmt: skip
    throttle.failed("a", "10.0.0.1")
    assert throttle.retry_after("a", "10.0.0.1") == 0  # one free
    throttle.failed("a", "10.0.0.1")
    assert throttle.retry_after("a", "10.0.0.1") == 1
    assert throttle.retry_after("a", "10.0.0.2") == 0  # another address: not this pair's
    assert throttle.retry_after("b", "10.0.0.1") == 0  # the address has 2 of 3 free
    for _ in range(5):
        throttle.failed("a", "10.0.0.1")
    assert throttle.retry_after("a", "10.0.0.1") == 20  # 6 past free: 32 s, capped
    assert throttle.retry_after("b", "10.0.0.1") == 8  # the address: 4 past its 3 free
    throttle.succeeded("a", "10.0.0.1")
    assert throttle.retry_after("a", "10.0.0.1") == 8  # the pair is cleared, not the address
    now[0] = 200
    assert throttle.retry_after("b", "10.0.0.1") == 0  # quiet long enough: forgotten


def test_throttle_counts_ipv6_per_64_and_stays_bounded() -> None:
    throttle = LoginThrottle(free_per_address=2, max_tracked=50, clock=lambda: 0.0)
    for host in range(3):
        throttle.failed(f"user{host}", f"2001:db8::{host + 1}")
    assert throttle.retry_after("new", "2001:db8::ffff") > 0  # same /64
    assert throttle.retry_after("new", "2001:db8:0:1::1") == 0  # another /64
    for n in range(200):
        throttle.failed("x", f"10.1.{n // 250}.{n % 250}")
    assert len(throttle._failures) <= 50


async def test_login_redirects_only_to_local_paths(web: Web) -> None:
    await sign_up(web.client(), "a@example.com")
    for target, expected in [("/calls/x", "/calls/x"), ("//evil.example", "/"),
                             ("https://evil.example", "/"), ("/\\evil.example", "/")]:  # fmt: skip
        client = web.client()
        token = await form_token(client)
        response = await client.post(
            "/login",
            data={"csrf_token": token, "email": "a@example.com", "password": PASSWORD,
                  "next": target},
        )  # fmt: skip
        assert response.headers["location"] == expected


async def test_form_posts_without_a_valid_csrf_token_are_refused(web: Web) -> None:
    client = web.client()
    await sign_up(client, "a@example.com")
    fresh = web.client()
    login = {"email": "a@example.com", "password": PASSWORD}
    assert (await fresh.post("/login", data=login)).status_code == 403
    assert (await fresh.post("/login", data={**login, "csrf_token": "x" * 64})).status_code == 403
    # A token from another browser (another pre-login cookie) does not fit this one.
    other_token = await form_token(web.client())
    await fresh.get("/login")
    forged = await fresh.post("/login", data={**login, "csrf_token": other_token})
    assert forged.status_code == 403
    for path, data in [("/dnd", {"phone_number": "+14155550100"}), ("/logout", {}),
                       ("/profile", {"display_name": "Mallory"})]:  # fmt: skip
        assert (await client.post(path, data=data)).status_code == 403, path
    assert (await client.get("/api/dnd")).json() == []
    assert (await client.get("/api/profile")).json()["display_name"] == ""


async def test_api_writes_with_a_cookie_need_the_csrf_header(web: Web) -> None:
    client = web.client()
    await sign_up(client, "a@example.com")
    refused = await client.post("/api/dnd", json={"phone_number": "+14155550100"})
    assert refused.status_code == 403
    token = csrf_from((await client.get("/")).text)
    ok = await client.post(
        "/api/dnd", json={"phone_number": "+14155550100"}, headers={"X-CSRF-Token": token}
    )
    assert ok.status_code == 201
    assert [e["phone_number"] for e in (await client.get("/api/dnd")).json()] == ["+14155550100"]


async def test_api_tokens_work_without_cookies_and_stop_when_revoked(web: Web) -> None:
    owner = await web.user("a@example.com")
    created = await owner.post(
        "/api/tokens", json={"name": "script", "scopes": ["read", "account"]}
    )
    assert created.status_code == 201
    token = created.json()["token"]
    assert token.startswith("odt_")
    listed = (await owner.get("/api/tokens")).json()
    assert [t["name"] for t in listed] == ["script"]
    assert "token" not in listed[0]
    script = web.client()
    script.headers["Authorization"] = f"Bearer {token}"
    assert (await script.get("/api/profile")).json()["email"] == "a@example.com"
    added = await script.post("/api/dnd", json={"phone_number": "+14155550100"})  # no CSRF
    assert added.status_code == 201
    assert (await script.get("/profile")).status_code == 303  # pages are for browser sessions
    assert "/signup" in (await script.get("/")).text  # a token sees the landing page only
    revoked = await owner.delete(f"/api/tokens/{created.json()['id']}")
    assert revoked.status_code == 204
    assert (await script.get("/api/profile")).status_code == 401
    bogus = web.client()
    bogus.headers["Authorization"] = "Bearer odt_not-a-token"
    assert (await bogus.get("/api/profile")).status_code == 401


def test_secret_key_is_generated_once_private_and_configured_wins(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = load_or_create_secret_key(None, data_dir)
    assert len(first) >= 32
    mode = stat.S_IMODE(os.stat(data_dir / "web_secret_key").st_mode)
    assert mode == 0o600
    assert load_or_create_secret_key(None, data_dir) == first
    assert (
        load_or_create_secret_key(SecretStr("operator-key-1234"), data_dir) == b"operator-key-1234"
    )


async def test_expired_sessions_are_swept_at_the_next_login(make_web: Callable[..., Web]) -> None:
    short = make_web(session_lifetime=timedelta(0))
    await sign_up(short.client(), "a@example.com")
    await log_in(make_web().client(), "a@example.com")
    async with short.sessions() as s:
        rows = list(await s.scalars(select(AccessToken)))
    assert len(rows) == 1  # only the live one from the second login


async def test_sign_ups_are_rate_limited_per_address(make_web: Callable[..., Web]) -> None:
    """Each sign-up costs a password hash: an address cannot make them without bound."""
    web = make_web(login_throttle=LoginThrottle(max_signups_per_address=2))
    await sign_up(web.client(), "a@example.com")
    await sign_up(web.client(), "b@example.com")
    client = web.client()
    token = await form_token(client, "/signup")
    blocked = await client.post(
        "/signup", data={"csrf_token": token, "email": "c@example.com", "password": PASSWORD}
    )
    assert blocked.status_code == 429
    assert "Too many sign-ups" in blocked.text
    assert SESSION_COOKIE not in blocked.cookies


async def test_password_hashing_leaves_the_event_loop_free() -> None:
    """Live calls pace audio on this loop every 20 ms; a hash (~100 ms) must not stall it."""
    import asyncio
    import time

    from web_interface.passwords import hash_password_async

    hashing = asyncio.create_task(hash_password_async("correct horse battery"))
    ticks, started = 0, time.monotonic()
    while not hashing.done():
        await asyncio.sleep(0.005)
        ticks += 1
    assert (await hashing).startswith("$argon2")
    # A blocking hash would let this loop tick about once; off-loop it ticks throughout.
    assert ticks >= 3, f"{ticks} ticks in {time.monotonic() - started:.3f} s"
