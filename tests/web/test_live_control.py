"""Live control over the API and the pages: hang up and take over a live call (a command on
its channel, which the test holds as the call's handler would), pause, resume and cancel a
campaign and settle a task (through the task engine's real CampaignControlService).
Two users each: another person's call, campaign or task is a 404 and nothing happens.
Token scopes: `read` may not act, `calls` may, without CSRF; a cookie needs the header."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx
import pytest

from common.commands import PERSON_HANGUP, CallCommand, Hangup, Transfer
from database.repositories import calls, campaigns, phone_codes, tasks, users
from database.states import CallStatus, CampaignStatus, TaskActor, TaskStatus
from database.types import utcnow
from task_manager.campaign_control import CampaignControlService
from tests.web.conftest import Web, csrf_from
from tests.web.seed import Seeded, seed_user_data

OWN_PHONE = "+14155550123"


@dataclass
class Two:
    a: httpx.AsyncClient
    b: httpx.AsyncClient
    seeded: Seeded
    live_call: str


async def _live_call(web: Web, seeded: Seeded) -> str:
    call_id = str(uuid.uuid4())
    async with web.sessions() as s, s.begin():
        await calls.create_dialing(
            s, user_id=seeded.user_id, call_id=call_id, phone_number="+14155550102",
            task_id=seeded.task_id,
        )  # fmt: skip
        await calls.update(s, user_id=seeded.user_id, call_id=call_id, status=CallStatus.ANSWERED)
    return call_id


@pytest.fixture
async def two(web: Web) -> Two:
    web.deps.control = CampaignControlService(web.sessions)
    a = await web.user("a@example.com", name="Alice")
    b = await web.user("b@example.com", name="Bob")
    seeded = await seed_user_data(web.sessions, "a@example.com")
    return Two(a, b, seeded, await _live_call(web, seeded))


async def _verify(web: Web, email: str) -> None:
    async with web.sessions() as s, s.begin():
        user = await users.get_by_email(s, email)
        assert user is not None
        await users.update(s, user.id, phone_number=OWN_PHONE)
        assert await phone_codes.mark_verified(
            s, user_id=user.id, phone_number=OWN_PHONE, at=utcnow()
        )


async def _needs_user(web: Web, seeded: Seeded) -> None:
    async with web.sessions() as s, s.begin():
        task = await tasks.get(s, user_id=seeded.user_id, task_id=seeded.task_id)
        assert task is not None
        await tasks.update_status(
            s, user_id=seeded.user_id, task_id=task.id, expected_version=task.version,
            status=TaskStatus.NEEDS_USER, actor=TaskActor.SYSTEM,
            last_decision_reason="they asked for a card number",
        )  # fmt: skip


async def test_hang_up_and_take_over_reach_only_the_owners_live_call(web: Web, two: Two) -> None:
    received: list[CallCommand] = []
    async with web.bus.subscribe(two.live_call) as handler:
        for client in (two.b, two.a):  # B first: a 404, and nothing reaches the call
            response = await client.post(f"/api/calls/{two.live_call}/take-over")
            assert response.status_code == (404 if client is two.b else 409), response.text
        assert "not verified" in response.json()["detail"]
        assert (await two.b.post(f"/api/calls/{two.live_call}/hangup")).status_code == 404
        await _verify(web, "a@example.com")
        taken = await two.a.post(f"/api/calls/{two.live_call}/take-over")
        received.append(await anext(handler))
        hung_up = await two.a.post(f"/api/calls/{two.live_call}/hangup")
        received.append(await anext(handler))
    assert taken.json() == {"call_id": two.live_call, "action": "take_over", "delivered": True}
    assert hung_up.json() == {"call_id": two.live_call, "action": "hangup", "delivered": True}
    assert received == [Transfer(target=OWN_PHONE), Hangup(reason=PERSON_HANGUP)]
    async with web.sessions() as s, s.begin():  # what the handler records once it redirected
        await calls.append_event(s, user_id=two.seeded.user_id, call_id=two.live_call,
                                 kind="transfer")  # fmt: skip
    again = await two.a.post(f"/api/calls/{two.live_call}/take-over")
    assert (again.status_code, again.json()["detail"]) == (
        409, "this call has already been handed over",
    )  # fmt: skip

    nobody = await two.a.post(f"/api/calls/{two.live_call}/hangup")  # no handler listens now
    assert (nobody.status_code, nobody.json()["detail"]) == (
        409,
        "this call is not running any more",
    )
    over = await two.a.post(f"/api/calls/{two.seeded.call_id}/hangup")  # the completed one
    assert (over.status_code, over.json()["detail"]) == (409, "this call is over")


async def test_pause_resume_and_cancel_a_campaign_only_its_owner_can(web: Web, two: Two) -> None:
    campaign_id = two.seeded.campaign_id
    for action in ("pause", "resume", "cancel"):
        refused = await two.b.post(f"/api/campaigns/{campaign_id}/{action}")
        assert refused.status_code == 404, action
    assert (await two.a.get(f"/api/campaigns/{campaign_id}")).json()["status"] == "active"
    paused = await two.a.post(f"/api/campaigns/{campaign_id}/pause")
    assert paused.json()["status"] == "paused"
    resumed = await two.a.post(f"/api/campaigns/{campaign_id}/resume")
    assert resumed.json()["status"] == "active"
    cancelled = await two.a.post(f"/api/campaigns/{campaign_id}/cancel")
    assert cancelled.json() == {
        "status": "cancelled", "campaign_id": campaign_id, "task_id": None, "tasks_cancelled": 2,
    }  # fmt: skip
    late = await two.a.post(f"/api/campaigns/{campaign_id}/resume")
    assert (late.status_code, late.json()["detail"]) == (
        409, "the campaign is cancelled, not paused",
    )  # fmt: skip
    async with web.sessions() as s:
        rows = await tasks.list_for_user(s, user_id=two.seeded.user_id, campaign_id=campaign_id)
    assert {t.status for t in rows} == {TaskStatus.CANCELLED}


async def test_settle_a_task_that_needs_the_person(web: Web, two: Two) -> None:
    path = f"/api/tasks/{two.seeded.task_id}/settle"
    early = await two.a.post(path, json={"decision": "done"})
    assert (early.status_code, early.json()["detail"]) == (
        409, "this task does not wait on you (it is pending)",
    )  # fmt: skip
    await _needs_user(web, two.seeded)
    assert (await two.b.post(path, json={"decision": "done"})).status_code == 404
    assert (await two.a.post(path, json={"decision": "maybe"})).status_code == 422
    settled = await two.a.post(path, json={"decision": "done", "note": "I booked it by phone"})
    assert settled.json()["status"] == "succeeded"
    task = (await two.a.get(f"/api/tasks/{two.seeded.task_id}")).json()
    assert (task["status"], task["last_decision"], task["last_decision_reason"]) == (
        "succeeded", "person_done", "I booked it by phone",
    )  # fmt: skip


async def test_read_tokens_cannot_act_calls_tokens_can_and_cookies_need_csrf(
    web: Web, two: Two
) -> None:
    async def token(scopes: list[str]) -> httpx.AsyncClient:
        made = await two.a.post("/api/tokens", json={"name": "t", "scopes": scopes})
        client = web.client()
        client.headers["Authorization"] = f"Bearer {made.json()['token']}"
        return client

    await _needs_user(web, two.seeded)
    campaign = f"/api/campaigns/{two.seeded.campaign_id}"
    actions = [
        (f"/api/calls/{two.live_call}/hangup", None),
        (f"/api/calls/{two.live_call}/take-over", None),
        (f"{campaign}/pause", None), (f"{campaign}/resume", None), (f"{campaign}/cancel", None),
        (f"/api/tasks/{two.seeded.task_id}/settle", {"decision": "retry"}),
    ]  # fmt: skip
    reader = await token(["read"])
    no_csrf = web.client()
    no_csrf.cookies = two.a.cookies
    for path, body in actions:
        assert (await reader.post(path, json=body)).status_code == 403, path
        assert (await no_csrf.post(path, json=body)).status_code == 403, path
    caller = await token(["calls"])
    assert (await caller.post(f"{campaign}/pause")).json()["status"] == "paused"
    settled = await caller.post(
        f"/api/tasks/{two.seeded.task_id}/settle", json={"decision": "retry"}
    )
    assert settled.json()["status"] == "retry_scheduled"
    async with web.bus.subscribe(two.live_call) as handler:
        assert (await caller.post(f"/api/calls/{two.live_call}/hangup")).status_code == 200
        assert await anext(handler) == Hangup(reason=PERSON_HANGUP)


async def test_without_the_task_engine_campaign_actions_are_503(web: Web) -> None:
    client = await web.user("a@example.com")
    seeded = await seed_user_data(web.sessions, "a@example.com")
    response = await client.post(f"/api/campaigns/{seeded.campaign_id}/pause")
    assert (response.status_code, response.json()["detail"]) == (
        503, "the task engine is not running",
    )  # fmt: skip


async def test_the_pages_show_the_buttons_and_their_forms_act(web: Web, two: Two) -> None:
    seeded = two.seeded
    await _needs_user(web, seeded)
    call_page = (await two.a.get(f"/calls/{two.live_call}")).text
    assert 'action="/calls/' + two.live_call + '/hangup"' in call_page
    assert 'data-confirm="Hang up this call now?"' in call_page
    assert "verify your phone number</a> first" in call_page
    assert "/hangup" not in (await two.a.get(f"/calls/{seeded.call_id}")).text  # over: none
    dashboard = (await two.a.get("/")).text
    assert f'action="/tasks/{seeded.task_id}/settle"' in dashboard
    notifications = (await two.a.get("/notifications")).text
    assert f'action="/tasks/{seeded.task_id}/settle"' in notifications
    token_a = csrf_from(dashboard)
    token_b = csrf_from((await two.b.get("/")).text)

    campaign_page = f"/campaigns/{seeded.campaign_id}"
    forms = [f"/calls/{two.live_call}/hangup", f"/calls/{two.live_call}/take-over",
             f"{campaign_page}/pause", f"{campaign_page}/resume", f"{campaign_page}/cancel",
             f"/tasks/{seeded.task_id}/settle"]  # fmt: skip
    for path in forms:
        theirs = await two.b.post(path, data={"csrf_token": token_b, "decision": "fail"})
        assert theirs.status_code == 404, path

    async with web.bus.subscribe(two.live_call) as handler:
        hung_up = await two.a.post(forms[0], data={"csrf_token": token_a})
        assert await anext(handler) == Hangup(reason=PERSON_HANGUP)
    assert (hung_up.status_code, hung_up.headers["location"]) == (303, f"/calls/{two.live_call}")
    refused = await two.a.post(forms[1], data={"csrf_token": token_a})
    assert refused.status_code == 409
    assert "is not verified yet" in refused.text

    assert ">Pause</button>" in (await two.a.get(campaign_page)).text
    paused = await two.a.post(forms[2], data={"csrf_token": token_a})
    assert (paused.status_code, paused.headers["location"]) == (303, campaign_page)
    assert ">Resume</button>" in (await two.a.get(campaign_page)).text
    settled = await two.a.post(
        forms[5],
        data={"csrf_token": token_a, "decision": "fail", "note": "not worth it",
              "back": "campaign", "campaign_id": str(seeded.campaign_id)},
    )  # fmt: skip
    assert (settled.status_code, settled.headers["location"]) == (303, campaign_page)
    async with web.sessions() as s:
        task = await tasks.get(s, user_id=seeded.user_id, task_id=seeded.task_id)
        campaign = await campaigns.get(s, user_id=seeded.user_id, campaign_id=seeded.campaign_id)
    assert task is not None
    assert campaign is not None
    assert (task.status, task.last_decision_reason) == (TaskStatus.FAILED, "not worth it")
    assert campaign.status == CampaignStatus.PAUSED
    no_token = await two.a.post(forms[4], data={})
    assert no_token.status_code == 403
