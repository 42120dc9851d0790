"""User scoping: user B never reads or changes user A's rows by id."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from database.errors import NotFound
from database.repositories import calls, campaigns, feedback, messages, tasks, turns
from database.states import (
    CallStatus,
    FeedbackStatus,
    MessageChannel,
    Speaker,
    TaskActor,
    TaskStatus,
)
from tests.database.conftest import make_user

Sessions = async_sessionmaker[AsyncSession]


async def _a_world(sessions: Sessions) -> dict[str, object]:
    """User A with a campaign, a task, a call, a turn, an event, a question and a message."""
    a = await make_user(sessions, "a")
    b = await make_user(sessions, "b")
    call_id = str(uuid.uuid4())
    async with sessions() as s, s.begin():
        campaign = await campaigns.create(s, user_id=a.id, name="dentists")
        (task,) = await tasks.create_many(
            s,
            user_id=a.id,
            campaign_id=campaign.id,
            tasks=[tasks.NewTask(phone_number="+15550001111", objective="book a cleaning")],
        )
        await calls.create_dialing(
            s, user_id=a.id, call_id=call_id, phone_number="+15550001111", task_id=task.id
        )
        await turns.append(s, user_id=a.id, call_id=call_id, speaker=Speaker.AGENT, text="hello")
        await calls.append_event(s, user_id=a.id, call_id=call_id, kind="ringing")
        question = await feedback.create(s, user_id=a.id, call_id=call_id, question="Tuesday?")
        message = await messages.record(
            s, user_id=a.id, channel=MessageChannel.SMS, to_address="+15550002222", body="hi"
        )
    return {"a": a, "b": b, "campaign": campaign, "task": task, "call_id": call_id,
            "question": question, "message": message}  # fmt: skip


async def test_reads_by_id_return_nothing_for_another_user(sessions: Sessions) -> None:
    w = await _a_world(sessions)
    b_id, a_id = w["b"].id, w["a"].id  # type: ignore[attr-defined]
    async with sessions() as s, s.begin():
        assert await campaigns.get(s, user_id=b_id, campaign_id=w["campaign"].id) is None
        assert await tasks.get(s, user_id=b_id, task_id=w["task"].id) is None
        assert await calls.get(s, user_id=b_id, call_id=w["call_id"]) is None
        assert await feedback.get(s, user_id=b_id, request_id=w["question"].id) is None
        assert await messages.get(s, user_id=b_id, message_id=w["message"].id) is None
        assert await turns.list_for_call(s, user_id=b_id, call_id=w["call_id"]) == []
        assert await calls.list_events(s, user_id=b_id, call_id=w["call_id"]) == []
        assert await calls.list_for_task(s, user_id=b_id, task_id=w["task"].id) == []
        assert await tasks.list_for_user(s, user_id=b_id, campaign_id=w["campaign"].id) == []
        assert await feedback.list_open(s, user_id=b_id) == []
        # ...while A sees every one of them.
        assert await tasks.get(s, user_id=a_id, task_id=w["task"].id) is not None
        assert len(await turns.list_for_call(s, user_id=a_id, call_id=w["call_id"])) == 1
        assert len(await feedback.list_open(s, user_id=a_id)) == 1


async def test_writes_by_id_change_nothing_for_another_user(sessions: Sessions) -> None:
    w = await _a_world(sessions)
    b_id, a_id, call_id = w["b"].id, w["a"].id, w["call_id"]  # type: ignore[attr-defined]
    task = w["task"]
    async with sessions() as s, s.begin():
        assert (
            await tasks.update_status(
                s, user_id=b_id, task_id=task.id, expected_version=task.version,
                status=TaskStatus.CANCELLED, actor=TaskActor.SYSTEM,
            )
            is None
        )  # fmt: skip
        assert (
            await calls.update(s, user_id=b_id, call_id=call_id, status=CallStatus.FAILED) is None
        )
        assert (
            await feedback.answer(s, user_id=b_id, request_id=w["question"].id, answer="no") is None
        )
        assert (
            await turns.append(s, user_id=b_id, call_id=call_id, speaker=Speaker.AGENT, text="x")
            is None
        )
        assert await calls.append_event(s, user_id=b_id, call_id=call_id, kind="spoofed") is None
        assert (
            await campaigns.update(s, user_id=b_id, campaign_id=w["campaign"].id, name="x") is None
        )
        assert (
            await messages.mark_failed(s, user_id=b_id, message_id=w["message"].id, error="x")
            is None
        )
        with pytest.raises(NotFound):
            await tasks.create_many(
                s, user_id=b_id, campaign_id=w["campaign"].id,
                tasks=[tasks.NewTask(phone_number="+15550003333", objective="sneak in")],
            )  # fmt: skip
        with pytest.raises(NotFound):
            await calls.create_dialing(
                s, user_id=b_id, call_id=str(uuid.uuid4()), phone_number="+15550001111",
                task_id=task.id,
            )  # fmt: skip
    async with sessions() as s, s.begin():
        unchanged = await tasks.get(s, user_id=a_id, task_id=task.id)
        assert unchanged is not None
        assert (unchanged.status, unchanged.version) == (TaskStatus.PENDING, task.version)
        call = await calls.get(s, user_id=a_id, call_id=call_id)
        assert call is not None
        assert call.status == CallStatus.DIALING
        question = await feedback.get(s, user_id=a_id, request_id=w["question"].id)
        assert question is not None
        assert (question.status, question.answer) == (FeedbackStatus.OPEN, None)
        assert [t.text for t in await turns.list_for_call(s, user_id=a_id, call_id=call_id)] == [
            "hello"
        ]
        assert [e.kind for e in await calls.list_events(s, user_id=a_id, call_id=call_id)] == [
            "ringing"
        ]
        assert len(await tasks.list_for_user(s, user_id=a_id)) == 1
