"""Chat, confirm, test call and notifications over HTTP, each with two users.

User B never sees or drives user A's conversation (404, not their data), and A's plan
becomes A's campaign only. Replies are read as the page reads them: server-sent events.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from database.repositories import messages, task_events, tasks, users
from database.states import MessageChannel, TaskActor, TaskStatus
from tests.web.chat_support import make_service
from tests.web.conftest import Web, form_token
from tests.web.fake_llm import FakeChatServer, Text, Tools
from tests.web.test_chat_assistant import BAD_PLAN, GOOD_PLAN


@pytest.fixture
async def llm() -> AsyncIterator[FakeChatServer]:
    async with FakeChatServer() as server:
        yield server


@pytest.fixture
async def chat_web(make_web: Callable[..., Web], llm: FakeChatServer) -> AsyncIterator[Web]:
    web = make_web(secret_key=b"c" * 32)
    service = make_service(web.sessions, llm)
    web.deps.assistant = service
    yield web
    await service.aclose()


async def sse(client: httpx.AsyncClient, body: dict[str, Any]) -> list[dict[str, Any]]:
    async with client.stream("POST", "/api/chat", json=body) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        return [
            json.loads(line.removeprefix("data: "))
            async for line in response.aiter_lines()
            if line.startswith("data: ")
        ]


async def test_chat_to_a_plan_then_confirm_it_and_b_sees_nothing(
    chat_web: Web, llm: FakeChatServer
) -> None:
    a = await chat_web.user("a@example.com")
    b = await chat_web.user("b@example.com")
    llm.script = [Tools([("propose_plan", {"plan": GOOD_PLAN})]), Text("Please check the plan.")]
    events = await sse(a, {"message": "Book me a cleaning at +1 415 555 0123"})
    chat_id = events[0]["id"]
    assert [e["type"] for e in events if e["type"] != "delta"] == [
        "conversation", "tool", "plan", "done"
    ]  # fmt: skip
    shown = (await a.get(f"/api/chat/{chat_id}")).json()
    assert [(line["role"], line["text"]) for line in shown["lines"]] == [
        ("user", "Book me a cleaning at +1 415 555 0123"),
        ("assistant", "Please check the plan."),
    ]
    assert shown["plan"]["tasks"][0]["phone_number"] == "+14155550123"
    assert [c["id"] for c in (await a.get("/api/chat")).json()] == [chat_id]
    page = await a.get(f"/chat?c={chat_id}")
    assert "Please check the plan." in page.text
    assert "Confirm and schedule" in page.text

    # B: no list entry, no reading, no replying, no confirming, no page.
    assert (await b.get("/api/chat")).json() == []
    assert (await b.get(f"/api/chat/{chat_id}")).status_code == 404
    sent = await b.post("/api/chat", json={"conversation_id": chat_id, "message": "hi"})
    assert sent.status_code == 404
    taken = await b.post(f"/api/chat/{chat_id}/confirm", json={"plan": GOOD_PLAN})
    assert taken.status_code == 404
    assert (await b.get(f"/chat?c={chat_id}")).status_code == 404
    assert "Please check the plan." not in (await b.get("/chat")).text

    refused = await a.post(f"/api/chat/{chat_id}/confirm", json={"plan": BAD_PLAN})
    assert refused.status_code == 422
    [problem] = refused.json()["detail"]
    assert problem["msg"].startswith('task 1 (Bright Smiles): "555" is not')
    assert (await a.get("/api/campaigns")).json() == []
    made = await a.post(f"/api/chat/{chat_id}/confirm", json={"plan": GOOD_PLAN})
    assert made.status_code == 201
    [campaign] = (await a.get("/api/campaigns")).json()
    assert (campaign["id"], campaign["name"]) == (made.json()["campaign_id"], "Dentist cleaning")
    assert (await a.get(f"/api/chat/{chat_id}")).json()["campaign_id"] == campaign["id"]
    assert (await b.get("/api/campaigns")).json() == []
    assert len(llm.bodies) == 2  # B's attempts never reached the model


async def test_chat_needs_the_csrf_header_with_a_cookie(chat_web: Web) -> None:
    a = await chat_web.user("a@example.com")
    del a.headers["X-CSRF-Token"]
    assert (await a.post("/api/chat", json={"message": "hi"})).status_code == 403
    assert (await a.post("/api/chat/1/confirm", json={"plan": GOOD_PLAN})).status_code == 403


async def test_test_call_by_json_and_by_form(chat_web: Web) -> None:
    a = await chat_web.user("a@example.com")
    b = await chat_web.user("b@example.com")
    body = {"phone_number": "+14155550188", "objective": "say hello"}
    made = await a.post("/api/test-call", json=body)
    assert made.status_code == 201
    bad = await a.post("/api/test-call", json={**body, "phone_number": "12"})
    assert bad.status_code == 422
    assert "is not" in bad.json()["detail"][0]["msg"]
    token = await form_token(a, "/chat")
    form = {"csrf_token": token, "phone_number": "(415) 555-0189", "objective": "say hi"}
    placed = await a.post("/test-call", data=form)
    assert placed.status_code == 303
    shown = await a.get(placed.headers["location"])
    assert "+14155550189" in shown.text
    again = await a.post("/test-call", data={**form, "phone_number": "12"})
    assert again.status_code == 422
    assert "is not" in again.text
    assert len((await a.get("/api/campaigns")).json()) == 2
    assert (await b.get("/api/campaigns")).json() == []
    assert (await b.get(placed.headers["location"])).status_code == 404


async def test_notifications_show_what_needs_the_person_and_only_theirs(chat_web: Web) -> None:
    a = await chat_web.user("a@example.com", name="Ann")
    b = await chat_web.user("b@example.com")
    async with chat_web.sessions() as s, s.begin():
        ann = await users.get_by_email(s, "a@example.com")
        assert ann is not None
        [task] = await tasks.create_many(s, user_id=ann.id, campaign_id=None, tasks=[
            tasks.NewTask(phone_number="+14155550111", objective="book", contact_name="Dr Who")
        ])  # fmt: skip
        await task_events.move(  # what the post-call analyzer leaves
            s, task, TaskStatus.NEEDS_USER, actor=TaskActor.ANALYZER,
            last_decision_reason="they asked for your insurance number",
        )  # fmt: skip
        await messages.record(s, user_id=ann.id, channel=MessageChannel.EMAIL,
                              to_address="a@example.com", subject="Still working on it",
                              body="2 of 5 calls done")  # fmt: skip
    listed = (await a.get("/api/notifications")).json()
    assert listed["unread"] == 2
    assert {(n["kind"], n["title"]) for n in listed["items"]} == {
        ("needs_user", "Dr Who needs you"), ("message", "Still working on it")
    }  # fmt: skip
    page = await a.get("/notifications")
    assert "they asked for your insurance number" in page.text
    assert "2 of 5 calls done" in page.text
    after = (await a.get("/api/notifications")).json()
    assert after["unread"] == 1  # the message was seen; the task still waits on Ann
    assert (await b.get("/api/notifications")).json() == {"unread": 0, "items": []}
    assert "Dr Who" not in (await b.get("/notifications")).text
