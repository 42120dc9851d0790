"""Lifecycle: recovery after a dead process (lapsed lease; at start-up, this node's own
work at once), one notification per needs_user attempt, campaign completion with a summary
email delivered to a real local SMTP server."""

from __future__ import annotations

from datetime import timedelta

from database.repositories import calls, campaigns, feedback, messages, task_events
from database.states import CallStatus, CampaignStatus, FeedbackStatus, TaskActor, TaskStatus
from task_manager.lifecycle_manager import TaskLifecycleManagerService
from task_manager.notifier import Notifier
from task_manager.post_call_analyzer import PostCallAnalyzer
from task_manager.senders import EmailSender
from tests.support.smtp_server import LocalSmtpServer
from tests.task_manager.helpers import (
    NEW_YORK,
    WEDNESDAY_15_UTC,
    FakeClock,
    Sessions,
    add_task,
    get_task,
    make_user,
)
from tests.task_manager.test_senders_and_notifier import email_settings


def manager(
    sessions: Sessions, clock: FakeClock, notifier: Notifier | None = None, node: str = "node-b"
) -> TaskLifecycleManagerService:
    return TaskLifecycleManagerService(
        sessions=sessions, analyzer=PostCallAnalyzer(sessions, clock=clock),
        notifier=notifier or Notifier(sessions), node_id=node, clock=clock,
    )  # fmt: skip


async def live_task(sessions: Sessions, user_id: int, node: str, lease_left: timedelta, **kw):
    """What a process leaves behind when it is killed mid-call."""
    task = await add_task(sessions, user_id, NEW_YORK, **kw)
    async with sessions() as s, s.begin():
        row = await get_task(sessions, task)
        s.add(row)
        await task_events.move(
            s, row, TaskStatus.IN_PROGRESS, actor=TaskActor.SYSTEM, attempt_count=1, claimed_by=node
        )
        row.lease_expires_at = WEDNESDAY_15_UTC + lease_left
        call_id = f"call-{task.id}"
        await calls.create_dialing(
            s, user_id=user_id, call_id=call_id, phone_number=NEW_YORK, task_id=task.id,
            node_id=node,
        )  # fmt: skip
        await calls.update(s, user_id=user_id, call_id=call_id, status=CallStatus.ANSWERED)
    return task


async def call_status(sessions: Sessions, user_id: int, task_id: int) -> CallStatus:
    async with sessions() as s:
        call = await calls.get(s, user_id=user_id, call_id=f"call-{task_id}")
    assert call is not None
    return call.status


async def test_a_lapsed_lease_closes_the_call_and_retries_the_task(sessions: Sessions) -> None:
    user = await make_user(sessions)
    dead = await live_task(sessions, user.id, "dead-node", timedelta(seconds=-1))
    alive = await live_task(sessions, user.id, "live-node", timedelta(minutes=1))
    clock = FakeClock(WEDNESDAY_15_UTC)
    result = await manager(sessions, clock).sweep()
    assert result.recovered == 1
    assert await call_status(sessions, user.id, dead.id) == CallStatus.INTERRUPTED
    row = await get_task(sessions, dead)
    assert (row.status, row.attempt_count) == (TaskStatus.RETRY_SCHEDULED, 0)
    assert row.claimed_by is None
    assert row.next_action_time > clock.now
    assert await call_status(sessions, user.id, alive.id) == CallStatus.ANSWERED
    async with sessions() as s:
        last = (await task_events.timeline(s, user_id=user.id, task_id=dead.id))[-1]
    assert (last.from_status, last.to_status, last.actor) == (
        "in_progress", "retry_scheduled", "lifecycle",
    )  # fmt: skip
    assert (await get_task(sessions, alive)).status == TaskStatus.IN_PROGRESS


async def test_a_call_closed_before_its_analysis_is_decided_from_its_row(
    sessions: Sessions,
) -> None:
    """The process closed the row (the agent booked it) and died before the analyzer ran:
    recovery reads the same row through the same mapper and decides the task from it."""
    user = await make_user(sessions)
    task = await live_task(sessions, user.id, "dead-node", timedelta(seconds=-1))
    async with sessions() as s, s.begin():
        await calls.update(
            s, user_id=user.id, call_id=f"call-{task.id}", status=CallStatus.COMPLETED,
            outcome="success", agent_outcome="success", ended_by="agent",
            end_reason="talker_finished", facts={"time": "Tue 10:00"}, amd_status="HUMAN",
        )  # fmt: skip
    interrupted = await live_task(sessions, user.id, "dead-node", timedelta(seconds=-1))
    assert (await manager(sessions, FakeClock(WEDNESDAY_15_UTC)).sweep()).recovered == 2
    row = await get_task(sessions, task)
    assert (row.status, row.result) == (TaskStatus.SUCCEEDED, {"time": "Tue 10:00"})
    async with sessions() as s:
        closed = await calls.get(s, user_id=user.id, call_id=f"call-{interrupted.id}")
    assert closed is not None
    assert (closed.status, closed.end_reason, closed.ended_by) == (
        CallStatus.INTERRUPTED, "recovered", "platform",
    )  # fmt: skip
    assert (await get_task(sessions, interrupted)).status == TaskStatus.RETRY_SCHEDULED


async def test_startup_recovers_this_nodes_work_at_once(sessions: Sessions) -> None:
    """kill -9 and restart with the same NODE_ID: no waiting for the lease to lapse."""
    user = await make_user(sessions)
    mine = await live_task(sessions, user.id, "node-b", timedelta(minutes=2))
    service = manager(sessions, FakeClock(WEDNESDAY_15_UTC), node="node-b")
    await service.start()
    await service.stop()
    assert await call_status(sessions, user.id, mine.id) == CallStatus.INTERRUPTED
    assert (await get_task(sessions, mine)).status == TaskStatus.RETRY_SCHEDULED


async def test_needs_user_is_notified_once_per_attempt(sessions: Sessions) -> None:
    user = await make_user(sessions)
    task = await add_task(sessions, user.id, NEW_YORK, contact_name="Ana")
    async with sessions() as s, s.begin():
        row = await get_task(sessions, task)
        s.add(row)
        await task_events.move(
            s, row, TaskStatus.NEEDS_USER, actor=TaskActor.SYSTEM, attempt_count=1
        )
        row.last_decision_reason = "asks for a deposit"
    service = manager(sessions, FakeClock(WEDNESDAY_15_UTC))
    assert (await service.sweep()).notified == 1
    assert (await service.sweep()).notified == 0
    async with sessions() as s:
        (message,) = await messages.list_for_user(s, user_id=user.id)
    assert message.subject == "A task needs your decision: Ana"
    assert "asks for a deposit" in message.body


async def test_a_finished_campaign_is_summarised_and_emailed_once(sessions: Sessions) -> None:
    user = await make_user(sessions)
    async with sessions() as s, s.begin():
        campaign = await campaigns.create(s, user_id=user.id, name="cleaning", goal="a slot")
    won = await add_task(sessions, user.id, NEW_YORK, campaign_id=campaign.id, contact_name="A")
    rest = await add_task(sessions, user.id, NEW_YORK, campaign_id=campaign.id, contact_name="B")
    ended = ((won, TaskStatus.SUCCEEDED), (rest, TaskStatus.GOAL_MET_ELSEWHERE))
    rows = [(await get_task(sessions, task), status) for task, status in ended]
    async with sessions() as s, s.begin():
        for row, status in rows:
            s.add(row)
            result = {"time": "Tue 10:00"} if status is TaskStatus.SUCCEEDED else None
            await task_events.move(s, row, status, actor=TaskActor.SYSTEM, result=result)
    clock = FakeClock(WEDNESDAY_15_UTC)
    async with LocalSmtpServer() as smtp:
        notifier = Notifier(sessions, email=EmailSender(email_settings(smtp)))
        assert (await manager(sessions, clock, notifier).sweep()).campaigns_finished == 1
        assert (await manager(sessions, clock, notifier).sweep()).campaigns_finished == 0
        (mail,) = await smtp.wait_for(1)
    assert mail["Subject"] == 'Campaign "cleaning" finished'
    body = mail.get_payload().replace("\r\n", "\n")
    assert "1 of 2 tasks succeeded" in body
    assert "time: Tue 10:00" in body
    assert "not needed (goal met)" in body
    async with sessions() as s:
        stored = await campaigns.get(s, user_id=user.id, campaign_id=campaign.id)
    assert stored is not None
    assert (stored.status, stored.finished_at) == (CampaignStatus.COMPLETED, clock.now)
    assert stored.summary == body.strip()


async def test_a_campaign_that_cannot_finish_is_marked_and_notified(sessions: Sessions) -> None:
    user = await make_user(sessions)
    async with sessions() as s, s.begin():
        campaign = await campaigns.create(s, user_id=user.id, name="blocked")
    task = await add_task(sessions, user.id, NEW_YORK, campaign_id=campaign.id)
    async with sessions() as s, s.begin():
        row = await get_task(sessions, task)
        s.add(row)
        await task_events.move(s, row, TaskStatus.CANCELLED_DND, actor=TaskActor.SYSTEM)
    await manager(sessions, FakeClock(WEDNESDAY_15_UTC)).sweep()
    async with sessions() as s:
        (message,) = await messages.list_for_user(s, user_id=user.id)
    assert message.subject == 'Campaign "blocked" could not be completed'


async def test_the_sweep_expires_questions_past_their_deadline(sessions: Sessions) -> None:
    user = await make_user(sessions)
    clock = FakeClock(WEDNESDAY_15_UTC)
    async with sessions() as s, s.begin():
        late = await feedback.create(
            s,
            user_id=user.id,
            question="Tuesday?",
            expires_at=WEDNESDAY_15_UTC - timedelta(seconds=1),
        )
        waiting = await feedback.create(
            s,
            user_id=user.id,
            question="Wednesday?",
            expires_at=WEDNESDAY_15_UTC + timedelta(minutes=1),
        )
    report = await manager(sessions, clock).sweep()
    async with sessions() as s:
        rows = [await feedback.get(s, user_id=user.id, request_id=r.id) for r in (late, waiting)]
    statuses = [row.status if row else None for row in rows]
    assert report.questions_expired == 1
    assert statuses == [FeedbackStatus.EXPIRED, FeedbackStatus.OPEN]


async def test_a_dead_call_ends_when_it_was_last_heard_of_and_its_questions_close(
    sessions: Sessions,
) -> None:
    """Issue 12: after kill -9, ended_at became the restart time, duration stayed null, and
    the dead call's open question still accepted an answer."""
    user = await make_user(sessions)
    task = await live_task(sessions, user.id, "dead-node", timedelta(seconds=-1))
    call_id = f"call-{task.id}"
    answered = WEDNESDAY_15_UTC - timedelta(minutes=10)
    last_heard = answered + timedelta(seconds=95)
    async with sessions() as s, s.begin():
        call = await calls.update(s, user_id=user.id, call_id=call_id, answered_at=answered)
        assert call is not None
        call.started_at = answered - timedelta(seconds=12)
        event = await calls.append_event(s, user_id=user.id, call_id=call_id, kind="dtmf_sent")
        event.at = last_heard
        question = await feedback.create(
            s, user_id=user.id, call_id=call_id, question="Tuesday?",
            expires_at=WEDNESDAY_15_UTC + timedelta(hours=1),
        )  # fmt: skip
    await manager(sessions, FakeClock(WEDNESDAY_15_UTC)).sweep()
    async with sessions() as s, s.begin():
        closed = await calls.get(s, user_id=user.id, call_id=call_id)
        asked = await feedback.get(s, user_id=user.id, request_id=question.id)
        late = await feedback.answer(s, user_id=user.id, request_id=question.id, answer="yes")
    assert closed is not None
    assert (closed.ended_at, closed.duration_seconds) == (last_heard, 95.0)
    assert asked is not None
    assert asked.status == FeedbackStatus.EXPIRED
    assert late is None


async def test_any_node_closes_a_call_row_whose_task_moved_on(sessions: Sessions) -> None:
    """Issue 13: a row whose closing write was lost stayed `answered` until its own node
    restarted; the periodic sweep of any node closes it once its task has moved on."""
    user = await make_user(sessions)
    task = await live_task(sessions, user.id, "gone-node", timedelta(minutes=5))
    async with sessions() as s, s.begin():
        row = await get_task(sessions, task)
        s.add(row)
        await task_events.move(
            s, row, TaskStatus.RETRY_SCHEDULED, actor=TaskActor.SYSTEM, claimed_by=None,
            lease_expires_at=None,
        )  # fmt: skip
        call = await calls.get(s, user_id=user.id, call_id=f"call-{task.id}")
        assert call is not None
        call.started_at = WEDNESDAY_15_UTC - timedelta(minutes=30)
    fresh = await live_task(sessions, user.id, "busy-node", timedelta(minutes=5))
    report = await manager(sessions, FakeClock(WEDNESDAY_15_UTC), node="other-node").sweep()
    assert report.calls_closed == 1
    assert await call_status(sessions, user.id, task.id) == CallStatus.INTERRUPTED
    assert await call_status(sessions, user.id, fresh.id) == CallStatus.ANSWERED
