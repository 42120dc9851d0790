"""Answers to the agent's questions: stored once while open, then sent to the live call."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select

from common.command_bus import CommandBusUnavailable, InProcessCommandBus
from common.commands import FeedbackAnswer
from database.models import FeedbackRequest
from database.repositories import feedback
from database.states import FeedbackStatus
from database.types import utcnow
from tests.web.conftest import Web
from tests.web.seed import seed_user_data


async def _stored(web: Web, request_id: int) -> FeedbackRequest:
    async with web.sessions() as s:
        row = await s.scalar(select(FeedbackRequest).where(FeedbackRequest.id == request_id))
    assert row is not None
    return row


async def test_answer_reaches_the_calls_channel_as_a_feedback_answer(web: Web) -> None:
    client = await web.user("a@example.com")
    seeded = await seed_user_data(web.sessions, "a@example.com")
    listed = (await client.get("/api/feedback")).json()
    assert [q["question"] for q in listed] == ["Is Tuesday at 10 fine?"]
    async with web.bus.subscribe(seeded.call_id) as commands:
        response = await client.post(
            f"/api/feedback/{seeded.question_id}/answer", json={"answer": "  Yes, Tuesday  "}
        )
        command = await asyncio.wait_for(anext(commands), 2)
    assert response.status_code == 200
    assert response.json() == {"id": seeded.question_id, "status": "answered", "delivered": True}
    assert command == FeedbackAnswer(request_id=seeded.question_id, answer="Yes, Tuesday")
    row = await _stored(web, seeded.question_id)
    assert (row.status, row.answer) == (FeedbackStatus.ANSWERED, "Yes, Tuesday")
    assert (await client.get("/api/feedback")).json() == []


async def test_a_second_answer_is_refused_and_not_sent(web: Web) -> None:
    client = await web.user("a@example.com")
    seeded = await seed_user_data(web.sessions, "a@example.com")
    url = f"/api/feedback/{seeded.question_id}/answer"
    assert (await client.post(url, json={"answer": "first"})).status_code == 200
    async with web.bus.subscribe(seeded.call_id) as commands:
        again = await client.post(url, json={"answer": "second"})
        assert again.status_code == 409
        publish_probe = await web.bus.publish(
            seeded.call_id, FeedbackAnswer(request_id=0, answer="probe")
        )
        first_seen = await asyncio.wait_for(anext(commands), 2)
    assert publish_probe == 1
    assert first_seen.answer == "probe"  # nothing from the refused answer came before it
    assert (await _stored(web, seeded.question_id)).answer == "first"


async def test_an_expired_question_cannot_be_answered(web: Web) -> None:
    client = await web.user("a@example.com")
    seeded = await seed_user_data(web.sessions, "a@example.com")
    async with web.sessions() as s, s.begin():
        old = await feedback.create(
            s,
            user_id=seeded.user_id,
            call_id=seeded.call_id,
            question="Too late?",
            expires_at=utcnow() - timedelta(seconds=1),
        )
    response = await client.post(f"/api/feedback/{old.id}/answer", json={"answer": "yes"})
    assert response.status_code == 409
    assert "no longer open" in response.json()["detail"]
    assert (await _stored(web, old.id)).answer is None


async def test_an_answer_with_nobody_listening_is_stored_and_says_so(web: Web) -> None:
    client = await web.user("a@example.com")
    seeded = await seed_user_data(web.sessions, "a@example.com")
    response = await client.post(
        f"/api/feedback/{seeded.question_id}/answer", json={"answer": "ok"}
    )
    assert response.json()["delivered"] is False
    assert (await _stored(web, seeded.question_id)).status == FeedbackStatus.ANSWERED


async def test_empty_or_oversize_answers_are_422_and_nothing_changes(web: Web) -> None:
    client = await web.user("a@example.com")
    seeded = await seed_user_data(web.sessions, "a@example.com")
    url = f"/api/feedback/{seeded.question_id}/answer"
    for body in [{"answer": "   "}, {"answer": "x" * 2001}, {}]:
        response = await client.post(url, json=body)
        assert response.status_code == 422, body
        assert response.json()["detail"][0]["loc"][-1] == "answer"
    row = await _stored(web, seeded.question_id)
    assert (row.status, row.answer) == (FeedbackStatus.OPEN, None)


class _RefusingBus(InProcessCommandBus):
    async def _publish_raw(self, channel: str, data: bytes) -> int:
        raise CommandBusUnavailable("Redis did not answer")


async def test_when_the_bus_refuses_the_question_stays_open(
    make_web: Callable[..., Web],
) -> None:
    web = make_web(bus=_RefusingBus())
    client = await web.user("a@example.com")
    seeded = await seed_user_data(web.sessions, "a@example.com")
    response = await client.post(
        f"/api/feedback/{seeded.question_id}/answer", json={"answer": "yes"}
    )
    assert response.status_code == 503
    assert "try again" in response.json()["detail"]
    row = await _stored(web, seeded.question_id)
    assert (row.status, row.answer) == (FeedbackStatus.OPEN, None)
