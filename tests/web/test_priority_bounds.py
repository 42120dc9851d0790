"""Priority is 0..100 wherever a task is made: the confirmed plan (web), the plan the chat
model proposes, test calls, and the repository behind all of them.

Before, a plan could carry any integer (2**31 and up became a 500 on PostgreSQL; a huge
one outranked every other task for good) (issue 13).
"""

from __future__ import annotations

import pytest

from database.repositories import conversations, tasks, users
from database.repositories.tasks import MAX_PRIORITY, NewTask
from tests.web.conftest import Web
from tests.web.fake_llm import FakeChatServer, Text, Tools
from tests.web.test_chat_assistant import GOOD_PLAN
from tests.web.test_chat_routes import chat_web, llm, sse

__all__ = ["chat_web", "llm"]  # fixtures, used by name


def plan_with(priority: object) -> dict[str, object]:
    return {**GOOD_PLAN, "tasks": [{**GOOD_PLAN["tasks"][0], "priority": priority}]}


async def _priorities(web: Web, email: str) -> list[int]:
    async with web.sessions() as s:
        user = await users.get_by_email(s, email)
        assert user is not None
        return [t.priority for t in await tasks.list_for_user(s, user_id=user.id)]


async def test_priority_bounded_0_to_100_at_every_entry_point(
    chat_web: Web, llm: FakeChatServer
) -> None:
    a = await chat_web.user("a@example.com")
    async with chat_web.sessions() as s, s.begin():
        user = await users.get_by_email(s, "a@example.com")
        assert user is not None
        chat = await conversations.create(s, user_id=user.id, title="plan")

    for priority in (101, -1, 10**6):  # the web: a confirmed plan
        refused = await a.post(f"/api/chat/{chat.id}/confirm", json={"plan": plan_with(priority)})
        assert refused.status_code == 422, priority
        assert "priority" in refused.json()["detail"][0]["msg"]
    confirmed = await a.post(f"/api/chat/{chat.id}/confirm", json={"plan": plan_with(100)})
    assert confirmed.status_code == 201

    # The chat model's proposal is held to the same rule, and told why.
    llm.script = [Tools([("propose_plan", {"plan": plan_with(1000)})]), Text("Fixed it.")]
    events = await sse(a, {"conversation_id": chat.id, "message": "make it urgent"})
    problems = [e for e in events if e["type"] == "problems"]
    assert problems
    assert "priority" in problems[0]["problems"][0]

    # A test call goes in at the top of the range, not above it.
    made = await a.post("/api/test-call", json={"phone_number": "+14155550123",
                                                 "objective": "say hello"})  # fmt: skip
    assert made.status_code == 201
    assert await _priorities(chat_web, "a@example.com") == [100, MAX_PRIORITY]  # plan, test

    # And the repository refuses what any other caller might pass.
    async with chat_web.sessions() as s:
        with pytest.raises(ValueError, match="priority"):
            await tasks.create(
                s, user_id=user.id,
                task=NewTask(phone_number="+14155550123", objective="x", priority=101),
            )  # fmt: skip
