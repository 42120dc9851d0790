"""API tokens expire and carry scopes; none of them makes tokens or moves the phone number.

Before, a token never expired, could do anything a session could, mint more tokens and
change the number calls are transferred to (issue 13).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
from sqlalchemy import update

from database.models import AccessToken, TokenKind
from database.types import utcnow
from tests.web.conftest import Web
from tests.web.seed import seed_user_data


async def _token(owner: httpx.AsyncClient, web: Web, scopes: list[str]) -> httpx.AsyncClient:
    made = await owner.post("/api/tokens", json={"name": "script", "scopes": scopes})
    assert made.status_code == 201, made.text
    script = web.client()
    script.headers["Authorization"] = f"Bearer {made.json()['token']}"
    return script


async def test_api_tokens_with_expiry_and_scopes_cannot_mint_tokens_or_change_the_phone(
    web: Web,
) -> None:
    owner = await web.user("a@example.com")
    seeded = await seed_user_data(web.sessions, "a@example.com")
    await owner.put("/api/profile", json={"phone_number": "+14155550123"})
    made = await owner.post("/api/tokens", json={"name": "day", "expires_in_days": 1})
    body = made.json()
    assert body["scopes"] == ["read"]  # least privilege unless asked
    assert body["expires_at"] is not None
    assert abs(
        datetime.fromisoformat(body["expires_at"]) - (utcnow() + timedelta(days=1))
    ) < timedelta(minutes=1)

    reader = await _token(owner, web, ["read"])
    assert (await reader.get("/api/campaigns")).status_code == 200
    assert (await reader.post("/api/events/ticket")).status_code == 201
    refused = [
        await reader.post("/api/dnd", json={"phone_number": "+14155550100"}),
        await reader.post(f"/api/feedback/{seeded.question_id}/answer", json={"answer": "no"}),
        await reader.put("/api/profile", json={"display_name": "Mallory"}),
        await reader.post("/api/chat", json={"message": "call everyone"}),
    ]
    assert [r.status_code for r in refused] == [403] * 4
    assert "scope" in refused[0].json()["detail"]

    everything = await _token(owner, web, ["read", "calls", "account"])
    renamed = await everything.put("/api/profile", json={"display_name": "Ann"})
    assert renamed.status_code == 200
    moved = await everything.put("/api/profile", json={"phone_number": "+14155550999"})
    assert moved.status_code == 403
    minted = await everything.post("/api/tokens", json={"name": "more", "scopes": ["read"]})
    assert minted.status_code == 403
    own_id = (await owner.get("/api/tokens")).json()[0]["id"]
    assert (await everything.delete(f"/api/tokens/{own_id}")).status_code == 403
    profile = (await owner.get("/api/profile")).json()
    assert (profile["display_name"], profile["phone_number"]) == ("Ann", "+14155550123")
    assert len((await owner.get("/api/tokens")).json()) == 3

    async with web.sessions() as s, s.begin():
        await s.execute(
            update(AccessToken)
            .where(AccessToken.kind == TokenKind.API)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert (await everything.get("/api/profile")).status_code == 401


async def test_token_requests_outside_the_bounds_are_refused(web: Web) -> None:
    owner = await web.user("a@example.com")
    for body in [{"name": "x", "expires_in_days": 0}, {"name": "x", "expires_in_days": 366},
                 {"name": "x", "scopes": ["admin"]}, {"name": "x", "scopes": []}]:  # fmt: skip
        assert (await owner.post("/api/tokens", json=body)).status_code == 422, body
    assert (await owner.get("/api/tokens")).json() == []
