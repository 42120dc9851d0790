"""task_events, on SQLite and PostgreSQL: every status change through the one module is
recorded (and announced only after commit); one made around it is refused."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.events import LiveEvent, TaskStatusChanged
from database.engine import create_engine_for, session_factory
from database.models import Task
from database.repositories import campaigns, task_events, tasks, webhook_outbox, webhooks
from database.repositories.task_events import UnrecordedTaskChange
from database.states import TaskActor, TaskStatus
from tests.database.conftest import Backend, make_user

Sessions = async_sessionmaker[AsyncSession]


async def _task(sessions: Sessions, user_id: int) -> Task:
    async with sessions() as s, s.begin():
        campaign = await campaigns.create(s, user_id=user_id, name="c")
        return await tasks.create(
            s, user_id=user_id, campaign_id=campaign.id,
            task=tasks.NewTask(phone_number="+14155550101", objective="book"),
        )  # fmt: skip


async def test_each_change_is_recorded_with_who_and_why(sessions: Sessions) -> None:
    user = await make_user(sessions)
    task = await _task(sessions, user.id)
    async with sessions() as s, s.begin():
        row = await tasks.get(s, user_id=user.id, task_id=task.id)
        assert row is not None
        assert await task_events.move(s, row, TaskStatus.SCHEDULED, actor=TaskActor.SCHEDULER,
                                      reason="claimed")  # fmt: skip
        assert not await task_events.move(s, row, TaskStatus.SCHEDULED, actor=TaskActor.SCHEDULER)
        await tasks.update_status(
            s, user_id=user.id, task_id=task.id, expected_version=row.version,
            status=TaskStatus.NEEDS_USER, actor=TaskActor.ANALYZER,
            last_decision_reason="they want a deposit",
        )  # fmt: skip
    other = await make_user(sessions, "other")
    async with sessions() as s:
        timeline = await task_events.timeline(s, user_id=user.id, task_id=task.id)
        assert await task_events.timeline(s, user_id=other.id, task_id=task.id) == []
    assert [(e.from_status, e.to_status, e.actor, e.reason) for e in timeline] == [
        (None, "pending", "orchestrator", "created"),
        ("pending", "scheduled", "scheduler", "claimed"),
        ("scheduled", "needs_user", "analyzer", "they want a deposit"),
    ]
    assert all(e.campaign_id == task.campaign_id for e in timeline)


async def test_a_set_of_tasks_moves_together_each_with_its_own_from(sessions: Sessions) -> None:
    user = await make_user(sessions)
    first, second = await _task(sessions, user.id), await _task(sessions, user.id)
    async with sessions() as s, s.begin():
        row = await tasks.get(s, user_id=user.id, task_id=first.id)
        assert row is not None
        await task_events.move(s, row, TaskStatus.NEEDS_USER, actor=TaskActor.ANALYZER)
    async with sessions() as s, s.begin():
        moved = await task_events.move_where(
            s, [Task.id.in_([first.id, second.id])], TaskStatus.CANCELLED,
            actor=TaskActor.PERSON, reason="you cancelled the campaign",
        )  # fmt: skip
    assert moved == 2
    async with sessions() as s:
        found = await task_events.for_tasks(s, user_id=user.id, task_ids=[first.id, second.id])
        rows = [await tasks.get(s, user_id=user.id, task_id=t.id) for t in (first, second)]
    assert [e.from_status for e in found[first.id]][-1] == "needs_user"
    assert [e.from_status for e in found[second.id]][-1] == "pending"
    assert {e.to_status for e in (found[first.id][-1], found[second.id][-1])} == {"cancelled"}
    assert [r.status for r in rows if r is not None] == [TaskStatus.CANCELLED] * 2
    assert all(r is not None and r.version == t.version + (2 if t is first else 1)
               for r, t in zip(rows, (first, second), strict=True))  # fmt: skip


async def test_a_status_set_around_the_module_is_refused(sessions: Sessions) -> None:
    user = await make_user(sessions)
    task = await _task(sessions, user.id)
    with pytest.raises(UnrecordedTaskChange):
        await _set_by_hand(sessions, task)
    with pytest.raises(UnrecordedTaskChange):
        await _update_around(sessions, task)
    async with sessions() as s, s.begin():  # other columns stay free to change
        await s.execute(update(Task).where(Task.id == task.id).values(priority=5))
        row = await tasks.get(s, user_id=user.id, task_id=task.id)
    assert row is not None
    assert row.status == TaskStatus.PENDING


async def _set_by_hand(sessions: Sessions, task: Task) -> None:
    async with sessions() as s, s.begin():
        row = await tasks.get(s, user_id=task.user_id, task_id=task.id)
        assert row is not None
        row.status = TaskStatus.FAILED
        await s.flush()


async def _update_around(sessions: Sessions, task: Task) -> None:
    async with sessions() as s, s.begin():
        await s.execute(update(Task).where(Task.id == task.id).values(status="failed"))


async def _fail_then_roll_back(
    sessions: Sessions, task: Task, announced: list[tuple[int, LiveEvent]]
) -> None:
    async with sessions() as s, s.begin():
        row = await tasks.get(s, user_id=task.user_id, task_id=task.id)
        assert row is not None
        await task_events.move(s, row, TaskStatus.FAILED, actor=TaskActor.PERSON)
        assert len(announced) == 1  # not before the commit
        raise RuntimeError("changed my mind")


async def test_live_events_wait_for_the_commit_and_a_rollback_drops_them(
    backend: Backend,
) -> None:
    announced: list[tuple[int, LiveEvent]] = []

    def sink(events: Sequence[tuple[int, LiveEvent]]) -> None:
        announced.extend(events)

    engine = create_engine_for(backend.url, backend.data_dir)
    sessions = session_factory(engine, after_commit=sink)
    try:
        user = await make_user(sessions)
        task = await _task(sessions, user.id)
        assert [e.to_status for _, e in announced if isinstance(e, TaskStatusChanged)] == [
            "pending"
        ]
        with pytest.raises(RuntimeError, match="changed my mind"):
            await _fail_then_roll_back(sessions, task, announced)
        assert len(announced) == 1  # and never for a rollback
        async with sessions() as s, s.begin():
            row = await tasks.get(s, user_id=user.id, task_id=task.id)
            assert row is not None
            await task_events.move(s, row, TaskStatus.FAILED, actor=TaskActor.PERSON)
    finally:
        await engine.dispose()
    (user_id, last) = announced[-1]
    assert user_id == user.id
    assert isinstance(last, TaskStatusChanged)
    assert (last.task_id, last.from_status, last.to_status) == (task.id, "pending", "failed")


async def test_a_webhook_goes_into_the_outbox_with_the_change(sessions: Sessions) -> None:
    user = await make_user(sessions)
    async with sessions() as s, s.begin():
        await webhooks.create_endpoint(
            s, user_id=user.id, url="https://93.184.216.34/h", events=["task.failed"]
        )
    task = await _task(sessions, user.id)
    async with sessions() as s, s.begin():
        row = await tasks.get(s, user_id=user.id, task_id=task.id)
        assert row is not None
        await task_events.move(s, row, TaskStatus.SCHEDULED, actor=TaskActor.SCHEDULER)
        await task_events.move(s, row, TaskStatus.FAILED, actor=TaskActor.SCHEDULER,
                               reason="all attempts were used")  # fmt: skip
    async with sessions() as s:
        (endpoint,) = await webhooks.list_endpoints(s, user_id=user.id)
        log = await webhooks.deliveries(s, user_id=user.id, endpoint_id=endpoint.id)
    assert [(d.event_type, d.delivery.ordering_key) for d in log] == [
        ("task.failed", f"task:{task.id}")
    ]
    assert webhook_outbox.TASK_TYPES[TaskStatus.FAILED] == "task.failed"
