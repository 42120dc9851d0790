"""DND (global and per user), feedback requests (answered once, while open), messages."""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.events import FeedbackClosed, LiveEvent
from database.engine import create_engine_for, session_factory
from database.repositories import dnd, feedback, messages
from database.states import FeedbackStatus, MessageChannel, MessageStatus
from tests.database.conftest import Backend, make_user

Sessions = async_sessionmaker[AsyncSession]
T0 = datetime(2030, 1, 1, tzinfo=UTC)


def _number() -> str:
    """A number no other test uses: the global list is shared by the whole module."""
    return "+1555" + str(uuid.uuid4().int)[:7]


async def test_dnd_per_user_and_global(sessions: Sessions) -> None:
    a, b = await make_user(sessions, "a"), await make_user(sessions, "b")
    mine, everyones = _number(), _number()
    async with sessions() as s, s.begin():
        await dnd.add(s, user_id=a.id, phone_number=mine, reason="asked not to be called")
        await dnd.add(s, user_id=None, phone_number=everyones, reason="operator list")
        await dnd.add(s, user_id=None, phone_number=everyones)  # idempotent
    async with sessions() as s, s.begin():
        assert await dnd.is_blocked(s, user_id=a.id, phone_number=mine)
        assert not await dnd.is_blocked(s, user_id=b.id, phone_number=mine)
        assert await dnd.is_blocked(s, user_id=a.id, phone_number=everyones)
        assert await dnd.is_blocked(s, user_id=b.id, phone_number=everyones)
        assert [e.phone_number for e in await dnd.list_for_user(s, user_id=a.id)] == [mine]
        global_entries = await dnd.list_for_user(s, user_id=None)
        assert [e.phone_number for e in global_entries].count(everyones) == 1
    async with sessions() as s, s.begin():
        assert not await dnd.remove(s, user_id=b.id, phone_number=mine)  # not B's entry
        assert await dnd.remove(s, user_id=a.id, phone_number=mine)
        assert await dnd.remove(s, user_id=None, phone_number=everyones)
    async with sessions() as s, s.begin():
        assert not await dnd.is_blocked(s, user_id=a.id, phone_number=mine)
        assert not await dnd.is_blocked(s, user_id=b.id, phone_number=everyones)


async def test_feedback_is_answered_once_and_only_while_open(sessions: Sessions) -> None:
    user = await make_user(sessions)
    async with sessions() as s, s.begin():
        question = await feedback.create(
            s, user_id=user.id, question="Is Tuesday 10:00 fine?", context="dentist",
            expires_at=T0 + timedelta(minutes=5),
        )  # fmt: skip
        late = await feedback.create(
            s, user_id=user.id, question="Too late?", expires_at=T0 + timedelta(minutes=1)
        )
    now = T0 + timedelta(minutes=2)
    async with sessions() as s, s.begin():
        answered = await feedback.answer(
            s, user_id=user.id, request_id=question.id, answer="yes", now=now
        )
        assert (
            await feedback.answer(s, user_id=user.id, request_id=late.id, answer="x", now=now)
            is None
        )
    assert answered is not None
    assert (answered.status, answered.answer, answered.answered_at) == (
        FeedbackStatus.ANSWERED, "yes", now
    )  # fmt: skip
    async with sessions() as s, s.begin():
        again = await feedback.answer(s, user_id=user.id, request_id=question.id, answer="no")
        stored = await feedback.get(s, user_id=user.id, request_id=question.id)
        assert [r.id for r in await feedback.list_open(s, user_id=user.id)] == [late.id]
        assert await feedback.expire_due(s, now=now) >= 1
        assert await feedback.list_open(s, user_id=user.id) == []
        expired = await feedback.get(s, user_id=user.id, request_id=late.id)
    assert again is None
    assert stored is not None
    assert stored.answer == "yes"
    assert expired is not None
    assert expired.status == FeedbackStatus.EXPIRED


async def test_messages_are_recorded_then_marked(sessions: Sessions) -> None:
    user = await make_user(sessions)
    async with sessions() as s, s.begin():
        sms = await messages.record(
            s, user_id=user.id, channel=MessageChannel.SMS, to_address="+15550001111", body="hi"
        )
        mail = await messages.record(
            s, user_id=user.id, channel=MessageChannel.EMAIL, to_address="p@example.org",
            subject="Summary", body="Done",
        )  # fmt: skip
    async with sessions() as s, s.begin():
        await messages.mark_sent(
            s, user_id=user.id, message_id=sms.id, provider_id="SM123", sent_at=T0
        )
        await messages.mark_failed(s, user_id=user.id, message_id=mail.id, error="SMTP 550")
    async with sessions() as s, s.begin():
        sent = await messages.get(s, user_id=user.id, message_id=sms.id)
        failed = await messages.get(s, user_id=user.id, message_id=mail.id)
    assert sent is not None
    assert (sent.status, sent.provider_id, sent.sent_at) == (MessageStatus.SENT, "SM123", T0)
    assert failed is not None
    assert (failed.status, failed.error, failed.sent_at) == (MessageStatus.FAILED, "SMTP 550", None)


async def test_a_closed_question_is_announced_after_the_commit_and_never_for_a_rollback(
    backend: Backend,
) -> None:
    """Answered, expired by the call, by the sweep, or with a dead call: each close queues
    one feedback_closed for its person, handed over only when the transaction commits."""
    announced: list[tuple[int, LiveEvent]] = []
    engine = create_engine_for(backend.url, backend.data_dir)
    sessions = session_factory(engine, after_commit=announced.extend)
    try:
        user, other = await make_user(sessions), await make_user(sessions)
        async with sessions() as s, s.begin():
            asked = [
                await feedback.create(
                    s, user_id=user.id, question=f"q{n}", expires_at=T0 + timedelta(minutes=n)
                )
                for n in range(1, 4)
            ]
            theirs = await feedback.create(s, user_id=other.id, question="theirs")
        with contextlib.suppress(RuntimeError):
            async with sessions() as s, s.begin():
                await feedback.answer(
                    s, user_id=user.id, request_id=asked[0].id, answer="x", now=T0
                )
                raise RuntimeError("rolled back")
        assert announced == []
        async with sessions() as s, s.begin():
            assert await feedback.answer(
                s, user_id=user.id, request_id=asked[0].id, answer="yes", now=T0
            )
            assert announced == []  # not before the commit
        async with sessions() as s, s.begin():
            assert await feedback.expire(s, user_id=user.id, request_id=asked[1].id)
            assert not await feedback.expire(s, user_id=other.id, request_id=asked[2].id)
            assert await feedback.expire_due(s, now=T0 + timedelta(minutes=3)) >= 1  # shared db
            assert not await feedback.expire(s, user_id=user.id, request_id=asked[2].id)
        async with sessions() as s, s.begin():
            assert await feedback.expire_for_call(s, user_id=other.id, call_id="none") == 0
    finally:
        await engine.dispose()
    mine = {q.id for q in asked} | {theirs.id}  # the database is shared with other tests
    closed = [(u, e) for u, e in announced if isinstance(e, FeedbackClosed)]
    closed = [(u, e) for u, e in closed if e.request_id in mine]
    assert closed == [
        (user.id, FeedbackClosed(request_id=asked[0].id, status="answered")),
        (user.id, FeedbackClosed(request_id=asked[1].id, status="expired")),
        (user.id, FeedbackClosed(request_id=asked[2].id, status="expired")),
    ]  # and nothing for the other person's open question
