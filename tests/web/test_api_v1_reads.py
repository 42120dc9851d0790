"""What scripts read and do through /api/v1 after a campaign exists: lists with filters
and pages, pause/resume/cancel through the task engine's WorkControl (Idempotency-Key
included), tasks, calls with turns, events and outcome; another person's ids are 404; the
documentation needs a login. On SQLite and PostgreSQL (issue 15)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

import httpx
import pytest

from database.repositories import calls, turns, users
from database.states import CallStatus, Speaker
from database.types import utcnow
from tests.web.api_v1_support import api, token_client
from tests.web.conftest import Web

__all__ = ["api"]  # the fixture
BIG = 60  # tasks: more than one page of 50


def _plan(name: str, tasks: int) -> dict[str, object]:
    numbers = [f"+1415555{n:04d}" for n in range(tasks)]
    return {"name": name, "tasks": [{"phone_number": n, "objective": "ask"} for n in numbers]}


@dataclass
class Work:
    script: httpx.AsyncClient
    user_id: int
    big: int  # campaign ids
    small: int
    task_ids: list[int]  # the big campaign's


@pytest.fixture
async def work(api: Web) -> Work:
    owner = await api.user("owner@example.com")
    script = await token_client(api, owner, ["read", "calls"])
    big = (await script.post("/api/v1/campaigns", json=_plan("Big", BIG))).json()
    small = (await script.post("/api/v1/campaigns", json=_plan("Small", 1))).json()
    async with api.sessions() as s:
        user = await users.get_by_email(s, "owner@example.com")
    assert user is not None
    return Work(script, user.id, big["campaign_id"], small["campaign_id"], big["task_ids"])


async def _call(api: Web, work: Work, status: CallStatus) -> str:
    call_id = str(uuid.uuid4())
    async with api.sessions() as s, s.begin():
        await calls.create_dialing(
            s, user_id=work.user_id, call_id=call_id, phone_number="+14155550000",
            task_id=work.task_ids[0],
        )  # fmt: skip
        await calls.update(
            s, user_id=work.user_id, call_id=call_id, status=status, outcome="booked",
            end_reason="end_call", answered_by="person",
        )  # fmt: skip
        await calls.append_event(s, user_id=work.user_id, call_id=call_id, kind="answered")
        for speaker, text in [(Speaker.CALLEE, "Dental office"), (Speaker.AGENT, "Hello")]:
            await turns.append(s, user_id=work.user_id, call_id=call_id, speaker=speaker, text=text)
    return call_id


async def test_lists_filter_by_status_and_since_and_come_in_pages(api: Web, work: Work) -> None:
    get = work.script.get
    listed = (await get("/api/v1/campaigns")).json()
    assert [c["name"] for c in listed["items"]] == ["Small", "Big"]
    assert (listed["page"], listed["next_page"]) == (1, None)
    assert (await work.script.post(f"/api/v1/campaigns/{work.small}/pause")).status_code == 200
    paused = (await get("/api/v1/campaigns?status=paused")).json()["items"]
    assert [c["id"] for c in paused] == [work.small]
    soon = quote((utcnow() + timedelta(minutes=1)).isoformat())
    assert (await get(f"/api/v1/campaigns?since={soon}")).json()["items"] == []
    a_minute_ago = quote((utcnow() - timedelta(minutes=1)).isoformat())
    assert len((await get(f"/api/v1/campaigns?since={a_minute_ago}")).json()["items"]) == 2

    first = await get(f"/api/v1/tasks?campaign_id={work.big}")
    body = first.json()
    assert (len(body["items"]), body["next_page"]) == (50, 2)
    assert first.headers["link"] == f'</api/v1/tasks?campaign_id={work.big}&page=2>; rel="next"'
    second = (await get(f"/api/v1/tasks?campaign_id={work.big}&page=2")).json()
    assert (len(second["items"]), second["next_page"]) == (BIG - 50, None)
    ids = [t["id"] for t in body["items"] + second["items"]]
    assert ids == work.task_ids

    before_cancel = utcnow()
    cancelled = await work.script.post(f"/api/v1/campaigns/{work.small}/cancel")
    assert cancelled.json() == {"status": "cancelled", "campaign_id": work.small,
                                "task_id": None, "tasks_cancelled": 1}  # fmt: skip
    gone = (await get("/api/v1/tasks?status=cancelled")).json()["items"]
    assert [t["campaign_id"] for t in gone] == [work.small]
    changed = (await get(f"/api/v1/tasks?since={quote(before_cancel.isoformat())}")).json()
    assert [t["campaign_id"] for t in changed["items"]] == [work.small]
    for wrong in ["/api/v1/tasks?status=sleeping", "/api/v1/campaigns?since=2026-12-01T00:00:00",
                  "/api/v1/tasks?page=0"]:  # fmt: skip
        refused = await get(wrong)
        assert refused.status_code == 422, wrong
        assert refused.json()["error"]["code"] == "invalid"
        assert refused.json()["error"]["details"][0]["field"].startswith("query.")


async def test_pause_resume_cancel_go_through_work_control_once_per_key(
    api: Web, work: Work
) -> None:
    post, key = work.script.post, {"Idempotency-Key": "pause-big-1"}
    paused = await post(f"/api/v1/campaigns/{work.big}/pause", headers=key)
    assert paused.json() == {"status": "paused", "campaign_id": work.big,
                             "task_id": None, "tasks_cancelled": None}  # fmt: skip
    repeated = await post(f"/api/v1/campaigns/{work.big}/pause", headers=key)
    assert (repeated.status_code, repeated.json()) == (200, paused.json())
    assert repeated.headers["Idempotent-Replayed"] == "true"
    reused = await post(f"/api/v1/campaigns/{work.big}/resume", headers=key)
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    shown = (await work.script.get(f"/api/v1/campaigns/{work.big}")).json()
    assert shown["status"] == "paused"
    assert (await post(f"/api/v1/campaigns/{work.big}/resume")).json()["status"] == "active"

    key = {"Idempotency-Key": "cancel-big-1"}
    cancelled = await post(f"/api/v1/campaigns/{work.big}/cancel", headers=key)
    assert cancelled.json()["tasks_cancelled"] == BIG
    replayed = await post(f"/api/v1/campaigns/{work.big}/cancel", headers=key)
    assert (replayed.status_code, replayed.json()) == (200, cancelled.json())
    again = await post(f"/api/v1/campaigns/{work.big}/cancel")  # no key: a new request
    assert again.status_code == 409
    assert again.json()["error"] == {
        "code": "conflict", "message": "the campaign is already cancelled", "details": [],
    }  # fmt: skip
    shown = (await work.script.get(f"/api/v1/campaigns/{work.big}")).json()
    assert shown["progress"]["by_status"] == {"cancelled": BIG}
    task = (await work.script.get(f"/api/v1/tasks/{work.task_ids[0]}")).json()
    assert [(e["from_status"], e["to_status"], e["actor"]) for e in task["events"]] == [
        (None, "pending", "orchestrator"), ("pending", "cancelled", "person"),
    ]  # fmt: skip


async def test_calls_come_with_turns_events_outcome_and_a_recording_link(
    api: Web, work: Work
) -> None:
    done = await _call(api, work, CallStatus.COMPLETED)
    live = await _call(api, work, CallStatus.ANSWERED)
    async with api.sessions() as s, s.begin():
        await calls.update(
            s, user_id=work.user_id, call_id=done, recording_path=f"{work.user_id}/{done}.wav",
            recording_seconds=8.0,
        )  # fmt: skip
    listed = (await work.script.get(f"/api/v1/calls?task_id={work.task_ids[0]}")).json()
    links = {c["id"]: c["recording_url"] for c in listed["items"]}
    assert links == {done: f"/api/calls/{done}/recording", live: None}
    completed = (await work.script.get("/api/v1/calls?status=completed")).json()["items"]
    assert [c["id"] for c in completed] == [done]
    call = (await work.script.get(f"/api/v1/calls/{done}")).json()
    assert [(t["speaker"], t["text"]) for t in call["turns"]] == [
        ("callee", "Dental office"), ("agent", "Hello"),
    ]  # fmt: skip
    assert [e["kind"] for e in call["events"]] == ["answered"]
    assert (call["outcome"], call["end_reason"], call["answered_by"]) == (
        "booked", "end_call", "person",
    )  # fmt: skip
    assert call["recording_url"] == f"/api/calls/{done}/recording"
    assert (await work.script.get(f"/api/v1/calls/{live}")).json()["recording_url"] is None
    task = (await work.script.get(f"/api/v1/tasks/{work.task_ids[0]}")).json()
    assert {c["id"] for c in task["calls"]} == {done, live}


async def test_another_persons_ids_are_404_and_their_lists_empty(api: Web, work: Work) -> None:
    call_id = await _call(api, work, CallStatus.COMPLETED)
    other = await token_client(api, await api.user("other@example.com"), ["read", "calls"])
    for path in [f"/api/v1/campaigns/{work.big}", f"/api/v1/tasks/{work.task_ids[0]}",
                 f"/api/v1/calls/{call_id}"]:  # fmt: skip
        assert (await work.script.get(path)).status_code == 200, path
        refused = await other.get(path)
        assert refused.status_code == 404, path
        assert refused.json()["error"]["code"] == "not_found"
        assert "+1415" not in refused.text
    for action in ["pause", "resume", "cancel"]:
        refused = await other.post(f"/api/v1/campaigns/{work.big}/{action}")
        assert refused.status_code == 404, action
    for path in ["/api/v1/campaigns", "/api/v1/tasks", "/api/v1/calls",
                 f"/api/v1/tasks?campaign_id={work.big}",
                 f"/api/v1/calls?task_id={work.task_ids[0]}"]:  # fmt: skip
        assert (await other.get(path)).json()["items"] == [], path
    shown = (await work.script.get(f"/api/v1/campaigns/{work.big}")).json()
    assert shown["status"] == "active"


async def test_the_documentation_is_for_logged_in_people_only(api: Web) -> None:
    anonymous = api.client()
    page = await anonymous.get("/api/v1/docs")
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=/api/v1/docs"
    spec = await anonymous.get("/api/v1/openapi.json")
    assert spec.status_code == 401
    assert spec.json()["error"]["code"] == "unauthorized"
    assert (await anonymous.get("/docs")).status_code == 404  # FastAPI's own stays off
    forged = api.client()
    forged.headers["Authorization"] = "Bearer odt_not-a-token"
    assert (await forged.get("/api/v1/docs")).status_code == 401

    person = await api.user("reader@example.com")
    shown = await person.get("/api/v1/docs")
    assert shown.status_code == 200
    assert '<script src="/static/swagger/swagger-ui-bundle.js">' in shown.text
    assert (await person.get("/static/swagger/swagger-ui-bundle.js")).status_code == 200
    reader = await token_client(api, person, ["read"])
    document = (await reader.get("/api/v1/openapi.json")).json()
    assert document["info"]["title"] == "OpenDeep API"
    assert set(document["paths"]) == {
        "/api/v1/campaigns", "/api/v1/campaigns/csv", "/api/v1/campaigns/{campaign_id}",
        "/api/v1/campaigns/{campaign_id}/pause", "/api/v1/campaigns/{campaign_id}/resume",
        "/api/v1/campaigns/{campaign_id}/cancel", "/api/v1/tasks", "/api/v1/tasks/{task_id}",
        "/api/v1/calls", "/api/v1/calls/{call_id}",
    }  # fmt: skip
    create = document["paths"]["/api/v1/campaigns"]["post"]
    body = create["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/CampaignPlan"}
    plan = document["components"]["schemas"]["CampaignPlan"]
    assert "voicemail_policy" in plan["properties"]
    assert plan["properties"]["tasks"]["items"] == {"$ref": "#/components/schemas/TaskPlan"}
    assert "Idempotency-Key" in [p["name"] for p in create["parameters"]]
    upload = document["paths"]["/api/v1/campaigns/csv"]["post"]["requestBody"]["content"]
    assert list(upload) == ["multipart/form-data"]
    caller = await token_client(api, person, ["calls"])
    assert (await caller.get("/api/v1/openapi.json")).status_code == 403
