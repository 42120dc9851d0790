"""A newcomer's first contact (issue 14): calls off said on every page, why a task waits,
the chat without a key, forms that keep what was typed and redirect after success, error
pages, the favicon, passwords, and log lines without colour codes."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from fastapi.routing import APIRoute

from common.log_context import JsonFormatter, TextFormatter
from config.settings import CallingSettings
from database.repositories import campaigns, dnd, tasks, webhooks
from database.repositories.tasks import NewTask
from database.states import CampaignStatus
from task_manager.orchestrator import OrchestratorService
from task_manager.task_outlook import TaskOutlookService
from task_manager.ui_assistant_svc import UiAssistantService
from tests.web.conftest import PASSWORD, Web, csrf_from, form_token
from tests.web.keyless import form_csrf, keyless_platform, signed_up
from tests.web.seed import seed_user_data
from web_interface.password_policy import password_problem
from web_interface.routes import ROUTERS
from web_interface.web_server import WebServer

NOT_PAGES = {"/login", "/signup", "/favicon.ico", "/healthz", "/readyz", "/metrics"}
SATURDAY_NIGHT = datetime(2026, 12, 5, 22, 0, tzinfo=UTC)  # 14:00 Saturday in California
LA = "+14155550123"  # San Francisco: America/Los_Angeles


def page_paths() -> set[str]:
    """Every page of the web app a logged-in person can open (GET, not /api)."""
    return {
        route.path
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
        and "GET" in route.methods
        and not route.path.startswith("/api")
        and route.path not in NOT_PAGES
    }


async def test_with_calls_off_every_page_says_so_and_a_test_call_says_why(
    tmp_path: Path,
) -> None:
    async with keyless_platform(tmp_path / "data") as keyless:
        client = await signed_up(keyless.base_url, "new@example.com")
        seeded = await seed_user_data(keyless.platform.sessions, "new@example.com")
        chat = (await client.get("/chat")).text
        made = await client.post(
            "/test-call",
            data={"csrf_token": form_csrf(chat), "phone_number": LA,
                  "objective": "Ask whether the line works and thank them"},
        )  # fmt: skip
        assert made.status_code == 303
        campaign_path = made.headers["location"]
        async with keyless.platform.sessions() as s, s.begin():
            endpoint = await webhooks.create_endpoint(
                s, user_id=seeded.user_id, url="https://example.com/hook", events=["call.ended"]
            )
        fill = {
            "{campaign_id}": str(seeded.campaign_id),
            "{call_id}": seeded.call_id,
            "{endpoint_id}": str(endpoint.id),
        }
        pages = page_paths()
        assert pages == {"/", "/campaigns/{campaign_id}", "/calls/{call_id}", "/profile",
                         "/dnd", "/chat", "/notifications", "/webhooks",
                         "/webhooks/{endpoint_id}"}  # fmt: skip
        for path in [*sorted(pages), campaign_path]:
            for key, value in fill.items():
                path = path.replace(key, value)
            html = (await client.get(path)).text
            assert 'id="calls-off"' in html, path
            assert "AMI_SECRET and OPENAI_API_KEY are not set" in html, path
            assert "Set AMI_SECRET and OPENAI_API_KEY in <code>.env</code>, then restart" in html
            assert "<code>python main.py doctor</code> checks" in html
        campaign = (await client.get(campaign_path)).text
        assert "Test call: Ask whether the line works and thank them" in campaign
        assert "Calls are off (AMI_SECRET and OPENAI_API_KEY not set)" in campaign
        campaign_id = campaign_path.rsplit("/", 1)[1]
        [task] = (await client.get(f"/api/tasks?campaign_id={campaign_id}")).json()
        assert task["waiting_reason"].startswith("calls are off")
        await client.aclose()


async def test_the_chat_without_a_key_stores_nothing_and_plans_by_hand(tmp_path: Path) -> None:
    async with keyless_platform(tmp_path / "data") as keyless:
        client = await signed_up(keyless.base_url, "new@example.com")
        page = (await client.get("/chat")).text
        assert "The assistant cannot answer right now." in page
        assert "Set OPENAI_API_KEY in .env, then restart" in page
        assert 'data-manual="1"' in page  # the plan editor is open, to fill by hand
        said = await client.post("/api/chat", json={"message": "call three dentists"})
        assert said.status_code == 503
        assert "OPENAI_API_KEY" in said.json()["detail"]
        assert (await client.get("/api/chat")).json() == []  # no conversation piles up
        bad = {"name": "", "tasks": [{"phone_number": "+1 555 123 4567", "objective": "x"}]}
        refused = await client.post("/api/campaigns", json={"plan": bad})
        assert refused.status_code == 422
        assert "555-0100 to 555-0199" in refused.json()["detail"][0]["msg"]
        call = {"phone_number": "+1 415 555 0123", "objective": "Book a cleaning"}
        good = {"name": "", "goal": "Book a cleaning next week", "tasks": [call]}
        made = await client.post("/api/campaigns", json={"plan": good})
        assert made.status_code == 201
        listed = (await client.get("/api/campaigns")).json()
        assert [c["name"] for c in listed] == ["Book a cleaning next week"]
        await client.aclose()


async def test_a_plan_made_by_hand_lands_on_its_maker_only(make_web: Callable[..., Web]) -> None:
    web = make_web(assistant=_assistant(make_web))
    a = await web.user("a@example.com")
    b = await web.user("b@example.com")
    plan = {"name": "Mine", "tasks": [{"phone_number": LA, "objective": "ask"}]}
    assert (await a.post("/api/campaigns", json={"plan": plan})).status_code == 201
    assert [c["name"] for c in (await a.get("/api/campaigns")).json()] == ["Mine"]
    assert (await b.get("/api/campaigns")).json() == []


def _assistant(make_web: Callable[..., Web]) -> UiAssistantService:
    sessions = make_web().sessions
    return UiAssistantService(sessions, None, "m", OrchestratorService(sessions, CallingSettings()))


async def test_a_waiting_task_says_why_from_the_schedulers_rules(web: Web) -> None:
    await web.user("a@example.com")
    seeded = await seed_user_data(web.sessions, "a@example.com")
    outlook = TaskOutlookService(CallingSettings(), clock=lambda: SATURDAY_NIGHT)
    async with web.sessions() as s, s.begin():
        mine, theirs, late = await tasks.create_many(
            s, user_id=seeded.user_id, campaign_id=seeded.campaign_id,
            tasks=[NewTask(phone_number=n, objective="x")
                   for n in ("+14155550111", "+14155550112", LA)],
        )  # fmt: skip
        await dnd.add(s, user_id=seeded.user_id, phone_number="+14155550111", reason="")
        await dnd.add(s, user_id=None, phone_number="+14155550112", reason="")
    async with web.sessions() as s:
        reasons = await outlook.reasons(s, seeded.user_id, [mine.id, theirs.id, late.id])
    assert reasons[mine.id] == "will not be called: the number is on your do-not-call list"
    assert "the operator's do-not-call list" in reasons[theirs.id]
    assert reasons[late.id] == "outside calling hours until Mon 09:00 callee-local"
    async with web.sessions() as s, s.begin():
        await campaigns.update(
            s, user_id=seeded.user_id, campaign_id=seeded.campaign_id,
            status=CampaignStatus.PAUSED,
        )  # fmt: skip
    async with web.sessions() as s:
        paused = await outlook.reasons(s, seeded.user_id, [late.id])
    assert paused[late.id].startswith("the campaign is paused; outside calling hours")
    async with web.sessions() as s:  # another person's task: nothing said about it
        assert await outlook.reasons(s, seeded.user_id + 1, [late.id]) == {}


async def test_a_number_on_your_own_list_is_refused_as_a_test_call(
    make_web: Callable[..., Web],
) -> None:
    web = make_web(assistant=_assistant(make_web))
    client = await web.user("a@example.com")
    token = await form_token(client, "/dnd")
    assert (
        await client.post("/dnd", data={"csrf_token": token, "phone_number": LA})
    ).status_code == 303
    refused = await client.post(
        "/test-call", data={"csrf_token": token, "phone_number": LA, "objective": "hello"}
    )
    assert refused.status_code == 422
    assert "This number is on your do-not-call list" in refused.text
    assert 'data-replace-url="/chat"' in refused.text  # a reload shows /chat, posts nothing
    assert (await client.get("/api/campaigns")).json() == []


async def test_forms_redirect_after_success_and_keep_input_after_failure(web: Web) -> None:
    client = await web.user("a@example.com")
    token = await form_token(client, "/profile")
    bad = await client.post(
        "/profile",
        data={"csrf_token": token, "display_name": "Nina", "phone_number": "12345",
              "time_zone": "Mars/Base", "fact_label": ["", "Name"],
              "fact_value": ["My name is Nina", "Nina"]},
    )  # fmt: skip
    assert bad.status_code == 422
    assert 'data-replace-url="/profile"' in bad.text
    assert "Time zone is not a known time zone (use a name like Europe/Paris)" in bad.text
    assert "Phone number &#34;12345&#34; is not a valid phone number" in bad.text
    assert "row 1 needs a label" in bad.text
    assert "Value error" not in bad.text
    assert 'value="Mars/Base"' in bad.text
    assert 'value="My name is Nina"' in bad.text
    good = await client.post(
        "/profile",
        data={"csrf_token": token, "display_name": "Nina", "time_zone": "Europe/Paris",
              "fact_label": ["Name", ""], "fact_value": ["Nina", ""]},
    )  # fmt: skip
    assert (good.status_code, good.headers["location"]) == (303, "/profile")
    saved = (await client.get("/profile")).text
    assert "Your profile is saved." in saved
    assert "Your profile is saved." not in (await client.get("/profile")).text  # once
    assert (await client.get("/api/profile")).json()["facts"] == {"Name": "Nina"}
    added = await client.post("/dnd", data={"csrf_token": token, "phone_number": LA})
    assert added.status_code == 303
    assert f"{LA} is on your do-not-call list." in (await client.get("/dnd")).text


async def test_destructive_buttons_ask_first(web: Web) -> None:
    client = await web.user("a@example.com")
    seeded = await seed_user_data(web.sessions, "a@example.com")
    await client.post("/api/tokens", json={"name": "script"})
    pages = ["/dnd", "/profile", f"/campaigns/{seeded.campaign_id}", f"/calls/{seeded.call_id}"]
    destructive = re.compile(r'<form method="post" action="[^"]*/(delete|revoke|cancel|hangup)"')
    seen = set()
    for page in pages:
        html = (await client.get(page)).text
        for form in re.finditer(r"<form [^>]*>", html):
            found = destructive.match(form.group(0))
            if found:
                seen.add(found.group(1))
                assert "data-confirm=" in form.group(0), form.group(0)
    assert seen == {"delete", "revoke", "cancel"}  # hang up: test_live_control.py


async def test_error_pages_for_browsers_json_for_the_api_and_a_favicon(web: Web) -> None:
    client = web.client()
    html = await client.get("/nope", headers={"Accept": "text/html,application/xhtml+xml"})
    assert (html.status_code, html.headers["content-type"].split(";")[0]) == (404, "text/html")
    assert "<h1>Page not found</h1>" in html.text
    assert "data-replace-url" not in html.text  # the address stays what was asked for
    as_json = await client.get("/nope", headers={"Accept": "application/json"})
    assert (as_json.status_code, as_json.json()) == (404, {"detail": "Not Found"})
    api = await client.get("/api/nope", headers={"Accept": "text/html"})
    assert (api.status_code, api.json()) == (404, {"detail": "Not Found"})
    forbidden = await client.post("/dnd", data={}, headers={"Accept": "text/html"})
    assert forbidden.status_code in {403, 303}
    icon = await client.get("/favicon.ico")
    assert (icon.status_code, icon.headers["content-type"]) == (200, "image/x-icon")
    assert icon.content.startswith(b"\x00\x00\x01\x00")
    landing = await client.get("/", headers={"Accept": "text/html"})
    assert 'href="/signup"' in landing.text
    assert 'href="/login"' in landing.text
    assert "An OpenAI API key" in landing.text
    assert "An Asterisk" in landing.text


async def test_a_form_without_its_csrf_token_gets_a_403_page(web: Web) -> None:
    client = await web.user("a@example.com")
    refused = await client.post("/dnd", data={"phone_number": LA}, headers={"Accept": "text/html"})
    assert refused.status_code == 403
    assert "<h1>Not allowed</h1>" in refused.text
    assert 'data-replace-url="/"' in refused.text  # a reload does not post again


def test_short_and_common_passwords_are_refused() -> None:
    assert password_problem("short") == "The password needs at least 10 characters."
    assert password_problem("password12", "a@example.com").startswith("Choose a harder")
    assert password_problem("qwertyuiop").startswith("Choose a harder")
    assert password_problem("ann@example.com", "ann@example.com") is not None
    assert password_problem(PASSWORD, "a@example.com") is None


async def test_signup_says_every_problem_and_links_log_in(web: Web) -> None:
    client = web.client()
    token = await form_token(client, "/signup")
    for password, words in [("short", "at least 10"), ("password123", "harder password")]:
        refused = await client.post(
            "/signup", data={"csrf_token": token, "email": "nope", "password": password}
        )
        assert refused.status_code == 422
        assert words in refused.text
        assert "Enter an email address" in refused.text
        assert 'value="nope"' in refused.text
    ok = await client.post(
        "/signup", data={"csrf_token": token, "email": "a@example.com", "password": PASSWORD}
    )
    assert ok.status_code == 303
    again = web.client()
    token = csrf_from((await again.get("/signup")).text)
    taken = await again.post(
        "/signup", data={"csrf_token": token, "email": "a@example.com", "password": PASSWORD}
    )
    assert '<a href="/login">Log in instead</a>' in taken.text


@contextmanager
def captured_root() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    handlers = [logging.StreamHandler(buffer), logging.StreamHandler(buffer)]
    handlers[0].setFormatter(TextFormatter())
    handlers[1].setFormatter(JsonFormatter())
    root, uvicorn_log = logging.getLogger(), logging.getLogger("uvicorn.error")
    level = uvicorn_log.level
    uvicorn_log.setLevel(logging.INFO)
    for handler in handlers:
        root.addHandler(handler)
    try:
        yield buffer
    finally:
        for handler in handlers:
            root.removeHandler(handler)
        uvicorn_log.setLevel(level)


async def test_uvicorns_lines_carry_no_colour_codes(web: Web) -> None:
    with captured_root() as buffer:
        server = WebServer(web.app, "127.0.0.1", 0)
        await server.start()
        await server.stop()
        logging.getLogger("x").warning("\x1b[31mred\x1b[0m", extra={"field": "\x1b[36m1\x1b[0m"})
    out = buffer.getvalue()
    assert "Started server process" in out  # uvicorn's line with its colour_message
    assert "\x1b" not in out
    assert "\\u001b" not in out
    assert "color_message" not in out
    assert "x: red field=1" in out
