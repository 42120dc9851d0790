"""Tenancy: every route needs a login, and user B never reaches user A's objects.

The route tables below are checked against the app's real routes, so a route added
later without a two-user case (or without authentication) fails here.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest
from fastapi.routing import APIRoute

from tests.web.conftest import Web, csrf_from
from tests.web.seed import Seeded, seed_user_data
from web_interface.routes import ROUTERS

PUBLIC = {
    ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"),
    ("GET", "/login"), ("POST", "/login"), ("GET", "/signup"), ("POST", "/signup"),
    ("GET", "/favicon.ico"),
}  # fmt: skip
BROWSER_API_PAGES = {("GET", "/api/v1/docs")}  # a page: to the login form and back


@dataclass
class Pair:
    a: httpx.AsyncClient
    b: httpx.AsyncClient
    seeded: Seeded
    a_token_id: int


@pytest.fixture
async def pair(web: Web) -> Pair:
    a = await web.user("a@example.com", name="Alice")
    b = await web.user("b@example.com", name="Bob")
    seeded = await seed_user_data(web.sessions, "a@example.com")
    token = await a.post("/api/tokens", json={"name": "alice-script"})
    return Pair(a, b, seeded, token.json()["id"])


def app_routes(web: Web) -> set[tuple[str, str]]:
    """The app's own routes plus those of every router create_app includes."""
    routes = [*web.app.routes, *(r for router in ROUTERS for r in router.routes)]
    return {
        (method, route.path)
        for route in routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }


async def test_every_route_requires_a_login(web: Web) -> None:
    anonymous = web.client()
    routes = app_routes(web) - PUBLIC
    assert routes, "no routes found"
    for method, path in sorted(routes):
        url = (
            path.replace("{call_id}", "x")
            .replace("_id}", "}")
            .format(
                campaign=1,
                task=1,
                request=1,
                entry=1,
                token=1,
                conversation=1,
                endpoint=1,
                delivery=1,
            )
        )
        response = await anonymous.request(method, url, json={})
        if (method, path) in BROWSER_API_PAGES:
            assert response.status_code == 303, (method, path)
            assert response.headers["location"] == f"/login?next={path}"
        elif path.startswith("/api/"):
            assert response.status_code == 401, (method, path)
        elif (method, path) == ("GET", "/"):  # the landing page: what OpenDeep is
            assert (response.status_code, "/signup" in response.text) == (200, True)
        elif method == "GET":
            assert response.status_code == 303, (method, path)
            assert response.headers["location"].startswith("/login?next="), (method, path)
        else:  # form posts: refused before anything runs (no CSRF token, no session)
            assert response.status_code in {303, 403}, (method, path)


async def test_api_lists_are_empty_for_the_other_user(pair: Pair) -> None:
    for path in ["/api/campaigns", "/api/tasks", "/api/calls", "/api/feedback", "/api/dnd",
                 "/api/tokens"]:  # fmt: skip
        mine = (await pair.a.get(path)).json()
        theirs = (await pair.b.get(path)).json()
        assert len(mine) >= 1, path
        assert theirs == [], path
    assert (await pair.b.get(f"/api/tasks?campaign_id={pair.seeded.campaign_id}")).json() == []


async def test_api_objects_of_another_user_are_404(pair: Pair) -> None:
    seeded = pair.seeded
    for path in [f"/api/campaigns/{seeded.campaign_id}", f"/api/tasks/{seeded.task_id}",
                 f"/api/calls/{seeded.call_id}"]:  # fmt: skip
        assert (await pair.a.get(path)).status_code == 200, path
        response = await pair.b.get(path)
        assert response.status_code == 404, path
        assert "book a cleaning" not in response.text
    answer = await pair.b.post(f"/api/feedback/{seeded.question_id}/answer", json={"answer": "no"})
    assert answer.status_code == 404
    assert (await pair.b.delete(f"/api/dnd/{seeded.dnd_id}")).status_code == 404
    assert (await pair.b.delete(f"/api/tokens/{pair.a_token_id}")).status_code == 404
    # A's things are untouched.
    assert len((await pair.a.get("/api/feedback")).json()) == 1
    assert len((await pair.a.get("/api/dnd")).json()) == 1
    assert len((await pair.a.get("/api/tokens")).json()) == 1


async def test_profile_and_writes_stay_with_their_owner(pair: Pair) -> None:
    assert (await pair.b.get("/api/profile")).json()["email"] == "b@example.com"
    changed = await pair.b.put("/api/profile", json={"display_name": "Robert"})
    assert changed.json()["display_name"] == "Robert"
    assert (await pair.a.get("/api/profile")).json()["display_name"] == "Alice"
    await pair.b.post("/api/dnd", json={"phone_number": "+14155550177"})
    await pair.b.post("/api/tokens", json={"name": "bob"})
    assert [e["phone_number"] for e in (await pair.a.get("/api/dnd")).json()] == ["+14155550199"]
    assert [t["name"] for t in (await pair.a.get("/api/tokens")).json()] == ["alice-script"]
    assert (await pair.b.post("/api/chat", json={})).status_code == 422  # no message


async def test_pages_of_another_user_are_404_and_show_nothing_of_theirs(pair: Pair) -> None:
    seeded = pair.seeded
    for path in [f"/campaigns/{seeded.campaign_id}", f"/calls/{seeded.call_id}"]:
        assert (await pair.a.get(path)).status_code == 200, path
        assert (await pair.b.get(path)).status_code == 404, path
    for path in ["/", "/profile", "/dnd", "/chat"]:
        page = await pair.b.get(path)
        assert page.status_code == 200, path
        for secret in ["Dentists for a@example.com", "+14155550101", "+14155550199",
                       "alice-script", "Alice", "Is Tuesday"]:  # fmt: skip
            assert secret not in page.text, (path, secret)
    dashboard = (await pair.a.get("/")).text
    assert "Dentists for a@example.com" in dashboard


async def test_page_forms_cannot_touch_another_users_objects(pair: Pair) -> None:
    token = csrf_from((await pair.b.get("/")).text)
    seeded = pair.seeded
    for path in [f"/dnd/{seeded.dnd_id}/delete", f"/profile/tokens/{pair.a_token_id}/revoke"]:
        response = await pair.b.post(path, data={"csrf_token": token})
        assert response.status_code == 404, path
    assert len((await pair.a.get("/api/dnd")).json()) == 1
    assert len((await pair.a.get("/api/tokens")).json()) == 1


TWO_USER_COVERED = {
    ("GET", "/api/campaigns"), ("GET", "/api/campaigns/{campaign_id}"),
    ("GET", "/api/tasks"), ("GET", "/api/tasks/{task_id}"),
    ("GET", "/api/calls"), ("GET", "/api/calls/{call_id}"),
    ("GET", "/api/feedback"), ("POST", "/api/feedback/{request_id}/answer"),
    ("GET", "/api/profile"), ("PUT", "/api/profile"),
    ("GET", "/api/dnd"), ("POST", "/api/dnd"), ("DELETE", "/api/dnd/{entry_id}"),
    ("GET", "/api/tokens"), ("POST", "/api/tokens"), ("DELETE", "/api/tokens/{token_id}"),
    ("POST", "/api/chat"), ("POST", "/logout"),
    ("GET", "/"), ("GET", "/campaigns/{campaign_id}"), ("GET", "/calls/{call_id}"),
    ("GET", "/profile"), ("POST", "/profile"), ("POST", "/profile/tokens"),
    ("POST", "/profile/tokens/{token_id}/revoke"),
    ("GET", "/dnd"), ("POST", "/dnd"), ("POST", "/dnd/{entry_id}/delete"), ("GET", "/chat"),
    # test_chat_routes.py: two users each
    ("GET", "/api/chat"), ("GET", "/api/chat/{conversation_id}"),
    ("POST", "/api/chat/{conversation_id}/confirm"), ("POST", "/api/test-call"),
    # test_first_contact.py: a plan made by hand lands on its maker only
    ("POST", "/api/campaigns"),
    ("POST", "/test-call"), ("GET", "/api/notifications"), ("GET", "/notifications"),
    # test_events_socket.py: each person's ticket opens a socket with their events only
    ("POST", "/api/events/ticket"),
    # test_live_control.py: B's hang-up, take-over, pause/resume/cancel, settle of A's → 404
    ("POST", "/api/calls/{call_id}/hangup"), ("POST", "/api/calls/{call_id}/take-over"),
    ("POST", "/api/campaigns/{campaign_id}/pause"), ("POST", "/api/campaigns/{campaign_id}/resume"),
    ("POST", "/api/campaigns/{campaign_id}/cancel"), ("POST", "/api/tasks/{task_id}/settle"),
    ("POST", "/calls/{call_id}/hangup"), ("POST", "/calls/{call_id}/take-over"),
    ("POST", "/campaigns/{campaign_id}/pause"), ("POST", "/campaigns/{campaign_id}/resume"),
    ("POST", "/campaigns/{campaign_id}/cancel"), ("POST", "/tasks/{task_id}/settle"),
    # test_phone_verification.py: A's code never verifies B's number, on the API or the page
    ("POST", "/api/profile/phone/code"), ("POST", "/api/profile/phone/verify"),
    ("POST", "/profile/phone/code"), ("POST", "/profile/phone/verify"),
    # test_webhooks.py: B gets 404 for A's endpoints, their log and redelivery, API and pages
    ("GET", "/api/webhooks"), ("POST", "/api/webhooks"), ("GET", "/api/webhooks/{endpoint_id}"),
    ("PATCH", "/api/webhooks/{endpoint_id}"), ("DELETE", "/api/webhooks/{endpoint_id}"),
    ("GET", "/api/webhooks/{endpoint_id}/deliveries"),
    ("POST", "/api/webhooks/deliveries/{delivery_id}/redeliver"),
    ("GET", "/webhooks"), ("POST", "/webhooks"), ("GET", "/webhooks/{endpoint_id}"),
    ("POST", "/webhooks/{endpoint_id}/delete"), ("POST", "/webhooks/{endpoint_id}/toggle"),
    ("POST", "/webhooks/{endpoint_id}/deliveries/{delivery_id}/redeliver"),
    # test_browser_recording.py: another person gets 404 for a call's recording
    ("GET", "/api/calls/{call_id}/recording"),
    # test_api_v1_reads.py and test_api_v1_import.py: B's reads of A's ids and actions on
    # them are 404, B's lists empty; each person's campaigns (and idempotency keys) their own
    ("GET", "/api/v1/campaigns"), ("GET", "/api/v1/campaigns/{campaign_id}"),
    ("POST", "/api/v1/campaigns"), ("POST", "/api/v1/campaigns/csv"),
    ("POST", "/api/v1/campaigns/{campaign_id}/pause"),
    ("POST", "/api/v1/campaigns/{campaign_id}/resume"),
    ("POST", "/api/v1/campaigns/{campaign_id}/cancel"),
    ("GET", "/api/v1/tasks"), ("GET", "/api/v1/tasks/{task_id}"),
    ("GET", "/api/v1/calls"), ("GET", "/api/v1/calls/{call_id}"),
    ("GET", "/api/v1/docs"), ("GET", "/api/v1/openapi.json"),  # about the API, no one's data
}  # fmt: skip


def test_every_route_has_a_two_user_case(web: Web) -> None:
    """The form posts that create things (POST /profile, /profile/tokens, /dnd) write with
    the session's own user id only; test_pages.py checks they land on the right user."""
    assert app_routes(web) - PUBLIC == TWO_USER_COVERED
