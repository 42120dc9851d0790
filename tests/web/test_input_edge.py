"""Input at the edge: NUL, unpaired surrogates and out-of-range integers are 422s naming
the field, on every route, over PostgreSQL (which is where they used to become 500s).

Before: a NUL byte in any text and an id of 2**31 or more reached PostgreSQL and came
back as 500; a 422 for a string holding an unpaired surrogate crashed FastAPI's own
handler, which echoed the input (issue 13).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy.engine import make_url

from common.command_bus import InProcessCommandBus
from common.health import HealthRegistry
from common.metrics import PlatformMetrics
from database import migrate
from database.engine import create_engine_for, session_factory
from tests.web.conftest import Web, csrf_from
from tests.web.seed import seed_user_data
from web_interface.app import create_app
from web_interface.deps import WebDeps
from web_interface.routes import ROUTERS

pytestmark = pytest.mark.postgres
BIG = 2**31
NUL = "a\x00b"


@pytest.fixture
async def pg_web(postgres_url: str, tmp_path: Any) -> AsyncIterator[Web]:
    """The app over a fresh, migrated PostgreSQL database of its own."""
    admin = make_url(postgres_url).set(drivername="postgresql").render_as_string(False)
    name = f"opendeep_web_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(admin, timeout=10)
    await connection.execute(f'CREATE DATABASE "{name}"')
    url = make_url(postgres_url).set(database=name).render_as_string(False)
    await migrate.upgrade(url, tmp_path)
    engine = create_engine_for(url, tmp_path)
    bus, sessions = InProcessCommandBus(), session_factory(engine)
    deps = WebDeps(HealthRegistry(), PlatformMetrics(), sessions, bus,
                   secret_key=b"p" * 32, session_lifetime=timedelta(hours=1))  # fmt: skip
    web = Web(create_app(deps), deps, sessions, bus, [])
    try:
        yield web
    finally:
        for client in web.clients:
            await client.aclose()
        await bus.aclose()
        await engine.dispose()
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.close()


def _locs(response: httpx.Response) -> list[list[Any]]:
    assert response.status_code == 422, (response.status_code, response.text[:300])
    body = response.json()
    if "error" in body:  # /api/v1's one shape (web_interface/api_errors.py)
        return [d["field"].split(".") for d in body["error"]["details"]]
    assert all("input" not in e and "ctx" not in e for e in body["detail"])
    return [e["loc"] for e in body["detail"]]


async def test_input_at_the_edge_nul_and_out_of_range_are_422_with_field_messages_on_every_route(
    pg_web: Web,
) -> None:
    client = await pg_web.user("a@example.com")
    seeded = await seed_user_data(pg_web.sessions, "a@example.com")
    csrf = csrf_from((await client.get("/")).text)

    # Every route with an id in its path, whatever its method: 2**31 is a 422 there.
    everything = [*pg_web.app.routes, *(r for router in ROUTERS for r in router.routes)]
    routes = [r for r in everything if isinstance(r, APIRoute)]
    with_ids = sorted({(m, r.path) for r in routes for m in r.methods if "_id}" in r.path})
    assert len(with_ids) >= 12
    for method, path in with_ids:
        name = re.search(r"\{(\w+_id)\}", path)
        assert name is not None
        value = "x" * 65 if name.group(1) == "call_id" else str(BIG)
        url = path.replace("{" + name.group(1) + "}", value)
        url = re.sub(r"\{\w+\}", "1", url)
        response = await client.request(method, url, data={"csrf_token": csrf})
        assert ["path", name.group(1)] in _locs(response), (method, path)
    assert ["path", "call_id"] in _locs(await client.get("/api/calls/a%00b"))
    assert ["path", "task_id"] in _locs(await client.get("/api/tasks/-1"))

    queries = {"/api/tasks?campaign_id=" + str(BIG): ["query", "campaign_id"],
               f"/chat?c={BIG}": ["query", "c"], "/api/calls?page=0": ["query", "page"],
               "/login?next=%2Fa%00b": ["query", "next"]}  # fmt: skip
    for url, where in queries.items():
        assert where in _locs(await client.get(url)), url

    bodies: list[tuple[str, str, dict[str, Any], list[Any]]] = [
        ("POST", "/api/dnd", {"phone_number": NUL}, ["body", "phone_number"]),
        ("POST", "/api/dnd", {"phone_number": "+14155550100", "reason": NUL},
         ["body", "reason"]),
        ("PUT", "/api/profile", {"display_name": NUL}, ["body", "display_name"]),
        ("PUT", "/api/profile", {"time_zone": "UTC\x00"}, ["body", "time_zone"]),
        ("PUT", "/api/profile", {"facts": {"insurer": NUL}}, ["body", "facts", "insurer"]),
        ("PUT", "/api/profile", {"facts": {NUL: "x"}}, ["body", "facts", "*", "*"]),
        ("PUT", "/api/profile", {"never_share": [NUL]}, ["body", "never_share", 0]),
        ("POST", f"/api/feedback/{seeded.question_id}/answer", {"answer": NUL},
         ["body", "answer"]),
        ("POST", "/api/tokens", {"name": NUL}, ["body", "name"]),
        ("POST", "/api/chat", {"message": NUL}, ["body", "message"]),
        ("POST", "/api/chat", {"message": "hi", "conversation_id": BIG},
         ["body", "conversation_id"]),
        ("POST", "/api/test-call", {"phone_number": NUL, "objective": "x"},
         ["body", "phone_number"]),
        ("POST", "/api/chat/1/confirm", {"plan": {"name": NUL, "tasks": []}}, ["body", "plan"]),
        ("POST", "/api/chat/1/confirm", {"plan": {"tasks": [{"max_attempts": BIG}]}},
         ["body", "plan"]),
    ]  # fmt: skip
    for method, url, body, where in bodies:
        response = await client.request(method, url, json=body)
        assert where in _locs(response), (url, body)
    confirm = await client.post("/api/chat/1/confirm", json={"plan": {"tasks": [{"x": BIG}]}})
    assert "tasks.0.x: must be between" in confirm.json()["detail"][0]["msg"]

    forms = [("/dnd", {"phone_number": NUL}, "phone_number"),
             ("/profile", {"display_name": NUL}, "display_name"),
             ("/profile/tokens", {"name": NUL, "scopes": "read"}, "name"),
             ("/test-call", {"phone_number": "+1415", "objective": NUL}, "objective")]  # fmt: skip
    for url, fields, field in forms:
        response = await client.post(url, data={"csrf_token": csrf, **fields})
        assert ["body", field] in _locs(response), url
    anonymous = pg_web.client()
    token = csrf_from((await anonymous.get("/signup")).text)
    for url in ["/signup", "/login"]:
        response = await anonymous.post(url, data={"csrf_token": token, "email": NUL,
                                                   "password": "long enough"})  # fmt: skip
        assert ["body", "email"] in _locs(response), url

    # Nothing of it was stored, and the app still works on the same database.
    assert [e["phone_number"] for e in (await client.get("/api/dnd")).json()] == ["+14155550199"]
    assert (await client.get("/api/profile")).json()["display_name"] == ""


async def test_the_422_handler_never_echoes_input_and_survives_odd_unicode(
    pg_web: Web,
) -> None:
    client = await pg_web.user("a@example.com")
    seeded = await seed_user_data(pg_web.sessions, "a@example.com")
    url = f"/api/feedback/{seeded.question_id}/answer"
    headers = {"content-type": "application/json"}
    lone = await client.post(url, content=b'{"answer": "\\ud800 yes"}', headers=headers)
    assert _locs(lone) == [["body", "answer"]]
    assert "ud800" not in lone.text
    long_and_odd = b'{"answer": "' + b"\\udc00" * 3000 + b'"}'
    response = await client.post(url, content=long_and_odd, headers=headers)
    assert _locs(response) == [["body", "answer"]]
    huge = await client.post(url, json={"answer": "secret " * 10_000})
    assert _locs(huge) == [["body", "answer"]]
    assert "secret" not in huge.text
    assert len(huge.content) < 500
    odd = b'{"facts": {"\\ud800": "x"}, "bogus\\ud800": 1}'
    odd_key = await client.put("/api/profile", content=odd, headers=headers)
    assert all("\\ud800" not in str(loc) for loc in _locs(odd_key))
    broken = await client.post(url, content=b'{"answer": ', headers=headers)
    assert broken.status_code == 422
    assert (await client.get("/api/feedback")).json()[0]["status"] == "open"  # nothing stored
