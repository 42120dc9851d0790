"""The planning assistant against a local OpenAI-compatible server and a fake Places API.

What is measured: the request the SDK sends (model, stream, tools offered, the profile in
the instructions), the events the page receives, what the model hears back from its tools
(validation problems in words, businesses with calling windows), and what is stored.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import time

from database.profile import Profile
from database.repositories import campaigns, conversations, tasks, users
from task_manager.business_lookup import opening_window
from tests.web.chat_support import collect, make_service, places_server
from tests.web.conftest import Web
from tests.web.fake_llm import FakeChatServer, Text, Tools

GOOD_PLAN = {
    "name": "Dentist cleaning",
    "goal": "book a cleaning next week",
    "stop_after_successes": 1,
    "tasks": [
        {"contact_name": "Bright Smiles", "phone_number": "+14155550123",
         "objective": "book a cleaning next week", "success_criteria": "a booked time"},
    ],
}  # fmt: skip
BAD_PLAN = {**GOOD_PLAN, "tasks": [{**GOOD_PLAN["tasks"][0], "phone_number": "555"}]}


async def make_user(web: Web, **fields: object) -> int:
    async with web.sessions() as s, s.begin():
        user = await users.create(s, email="ann@example.com", password_hash="x", **fields)
    return user.id


async def test_a_bad_number_is_explained_to_the_model_and_the_page(
    make_web: Callable[..., Web],
) -> None:
    web = make_web()
    user_id = await make_user(
        web,
        display_name="Ann",
        time_zone="Europe/Paris",
        profile=Profile(facts={"insurance": "Acme 123"}, never_share=("salary",)),
    )
    script = [
        Text("Which dentist should I call?"),
        Tools([("propose_plan", {"plan": BAD_PLAN})]),
        Text("The number 555 is not valid; what is the full number?"),
    ]
    async with FakeChatServer(script) as llm:
        service = make_service(web.sessions, llm)
        first = await collect(service.reply(user_id, None, "Book me a dentist cleaning"))
        chat_id = first[0]["id"]
        second = await collect(service.reply(user_id, chat_id, "Bright Smiles, 555"))
        await service.aclose()

    assert first[0] == {"type": "conversation", "id": chat_id}
    text = "".join(e["text"] for e in first if e["type"] == "delta")
    assert text == "Which dentist should I call?"
    assert first[-1] == {"type": "done"}
    kinds = [e["type"] for e in second]
    assert kinds[:3] == ["conversation", "tool", "problems"]
    (problem,) = second[2]["problems"]
    assert problem.startswith('task 1 (Bright Smiles): "555" is not')
    assert "error" not in kinds

    request = llm.bodies[0]
    assert (request["model"], request["stream"]) == ("plan-1", True)
    assert llm.tool_names() == ["propose_plan"]  # no Places key: no lookup tool
    system = request["messages"][0]["content"]
    assert "Acme 123" in system
    assert "salary" in system
    assert "Europe/Paris" in system
    assert "ask the person for the names and phone numbers" in system
    tool_reply = llm.bodies[2]["messages"][-1]
    assert tool_reply["role"] == "tool"
    assert tool_reply["tool_call_id"] == "call_0"
    assert json.loads(tool_reply["content"]) == {"accepted": False, "problems": [problem]}

    async with web.sessions() as s:
        stored = await conversations.get(s, user_id=user_id, conversation_id=chat_id)
    assert stored is not None
    assert stored.plan is None
    roles = [m["role"] for m in stored.messages]
    assert roles == ["user", "assistant", "user", "assistant", "tool", "assistant"]
    assert stored.title == "Book me a dentist cleaning"


async def test_lookup_finds_numbers_and_hours_then_a_valid_plan_is_kept(
    make_web: Callable[..., Web],
) -> None:
    web = make_web()
    user_id = await make_user(web)
    window = {"start": "09:00:00", "end": "16:00:00", "days": "mon,tue,wed,thu,fri"}
    plan = {**GOOD_PLAN, "tasks": [{**GOOD_PLAN["tasks"][0], "window": window}]}
    script = [
        Tools([("lookup_businesses", {"query": "dentist", "near": "San Francisco"})]),
        Tools([("propose_plan", {"plan": plan})]),
        Text("Here is the plan."),
    ]
    async with FakeChatServer(script) as llm, places_server() as (places, url):
        service = make_service(web.sessions, llm, places_url=url)
        events = await collect(service.reply(user_id, None, "Find me a dentist"))
        await service.aclose()

    assert places.queries == [{"textQuery": "dentist near San Francisco", "pageSize": 10}]
    assert llm.tool_names(0) == ["propose_plan", "lookup_businesses"]
    found = json.loads(llm.bodies[1]["messages"][-1]["content"])["businesses"]
    assert found == [{
        "name": "Bright Smiles Dental", "phone_number": "+1 415-555-0123",
        "address": "1 Main St, San Francisco, CA",
        "calling_window": {"start": "09:00", "end": "16:00", "days": "mon,tue,wed,thu,fri"},
        "opening_hours": ["Monday: 8:30 AM - 5:00 PM"],
    }]  # fmt: skip
    (shown,) = [e for e in events if e["type"] == "plan"]
    assert shown["plan"]["tasks"][0]["window"] == window
    chat_id = events[0]["id"]
    async with web.sessions() as s:
        stored = await conversations.get(s, user_id=user_id, conversation_id=chat_id)
    assert stored is not None
    assert stored.plan == shown["plan"]


async def test_confirm_creates_the_campaign_and_test_call_is_due_at_any_hour(
    make_web: Callable[..., Web],
) -> None:
    web = make_web()
    user_id = await make_user(web)
    async with FakeChatServer([]) as llm:
        service = make_service(web.sessions, llm)
        refused = await service.confirm(user_id, None, BAD_PLAN)
        made = await service.confirm(user_id, None, GOOD_PLAN)
        trial = await service.test_call(user_id, "(415) 555-0124", "say hello")
        await service.aclose()
    assert list(refused) == ["problems"]
    async with web.sessions() as s:
        rows = await campaigns.list_for_user(s, user_id=user_id)
        [task] = await tasks.list_for_user(s, user_id=user_id, campaign_id=trial["campaign_id"])
    assert sorted(c.id for c in rows) == sorted([made["campaign_id"], trial["campaign_id"]])
    assert (task.phone_number, task.max_attempts) == ("+14155550124", 1)
    assert task.inter_call_context["calling_window"]["days"] == "mon,tue,wed,thu,fri,sat,sun"


async def test_without_a_key_the_page_is_told_and_nothing_is_sent(
    make_web: Callable[..., Web],
) -> None:
    from config.settings import CallingSettings
    from task_manager.orchestrator import OrchestratorService
    from task_manager.ui_assistant_svc import UiAssistantService

    web = make_web()
    user_id = await make_user(web)
    orchestrator = OrchestratorService(web.sessions, CallingSettings())
    service = UiAssistantService(web.sessions, None, "gpt-4.1-mini", orchestrator)
    events = await collect(service.reply(user_id, None, "hello"))
    assert [e["type"] for e in events] == ["error", "done"]
    assert "Set OPENAI_API_KEY in .env, then restart" in events[0]["message"]
    async with web.sessions() as s:  # no conversation waits for a reply that cannot come
        assert await conversations.list_for_user(s, user_id=user_id) == []


def test_opening_hours_become_the_window_inside_every_open_day() -> None:
    def period(day: int, opens: tuple[int, int], closes: tuple[int, int] | None) -> dict:
        out = {"open": {"day": day, "hour": opens[0], "minute": opens[1]}}
        if closes:
            out["close"] = {"day": day, "hour": closes[0], "minute": closes[1]}
        return out

    week = {"periods": [period(1, (8, 0), (18, 0)), period(6, (10, 0), (14, 30))]}
    got = opening_window(week)
    assert got is not None
    assert (got.start, got.end, got.days) == (time(10, 0), time(14, 30), "mon,sat")
    sunday_always = {"periods": [{"open": {"day": 0, "hour": 0, "minute": 0}}]}
    got = opening_window(sunday_always)
    assert got is not None
    assert (got.start, got.end, got.days) == (time(0), time(23, 59), "sun")
    assert (
        opening_window({"periods": [period(1, (9, 0), (12, 0)), period(2, (13, 0), (17, 0))]})
        is None
    )
    assert opening_window(None) is None
