"""Tasks: created per campaign in one transaction, changed only with a version check."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from database.errors import VersionConflict
from database.models import Task
from database.repositories import campaigns, task_events, tasks
from database.states import TaskActor, TaskStatus
from tests.database.conftest import make_user

Sessions = async_sessionmaker[AsyncSession]


async def _task(sessions: Sessions, **fields: object) -> Task:
    user = await make_user(sessions)
    async with sessions() as s, s.begin():
        new = tasks.NewTask(phone_number="+15550001111", objective="ask", **fields)  # type: ignore[arg-type]
        return await tasks.create(s, user_id=user.id, task=new)


async def test_create_many_for_a_campaign_and_list_by_status(sessions: Sessions) -> None:
    user = await make_user(sessions)
    async with sessions() as s, s.begin():
        campaign = await campaigns.create(s, user_id=user.id, name="plumbers", goal="a quote")
        numbers = ["+15550000001", "+15550000002", "+15550000003"]
        created = await tasks.create_many(
            s,
            user_id=user.id,
            campaign_id=campaign.id,
            tasks=[tasks.NewTask(phone_number=n, objective="quote") for n in numbers],
        )
        await tasks.update_status(
            s, user_id=user.id, task_id=created[0].id, expected_version=created[0].version,
            status=TaskStatus.FAILED, actor=TaskActor.SYSTEM,
        )  # fmt: skip
    async with sessions() as s, s.begin():
        listed = await tasks.list_for_user(s, user_id=user.id, campaign_id=campaign.id)
        pending = await tasks.list_for_user(
            s, user_id=user.id, campaign_id=campaign.id, statuses={TaskStatus.PENDING}
        )
    assert [t.phone_number for t in listed] == numbers
    assert [t.phone_number for t in pending] == numbers[1:]


async def test_create_many_is_all_or_nothing(sessions: Sessions) -> None:
    user = await make_user(sessions)

    async def plan_with_a_bad_number() -> None:
        async with sessions() as s, s.begin():
            campaign = await campaigns.create(s, user_id=user.id, name="c")
            await tasks.create_many(
                s, user_id=user.id, campaign_id=campaign.id,
                tasks=[tasks.NewTask("+15550000001", "ok"), tasks.NewTask("555-0102", "bad")],
            )  # fmt: skip

    with pytest.raises(ValueError, match=r"E\.164"):
        await plan_with_a_bad_number()
    async with sessions() as s, s.begin():
        assert await tasks.list_for_user(s, user_id=user.id) == []
        assert await campaigns.list_for_user(s, user_id=user.id) == []


async def test_update_bumps_version_and_a_stale_version_is_refused(sessions: Sessions) -> None:
    task = await _task(sessions)
    async with sessions() as s, s.begin():
        updated = await tasks.update_status(
            s, user_id=task.user_id, task_id=task.id, expected_version=task.version,
            status=TaskStatus.SCHEDULED, actor=TaskActor.SYSTEM, claimed_by="node-1",
        )  # fmt: skip
        assert updated is not None
        assert updated.version == task.version + 1
    async with sessions() as s, s.begin():
        with pytest.raises(VersionConflict):  # checked before any write: the session stays usable
            await tasks.update_status(
                s, user_id=task.user_id, task_id=task.id, expected_version=task.version,
                status=TaskStatus.CANCELLED, actor=TaskActor.SYSTEM,
            )  # fmt: skip
    async with sessions() as s, s.begin():
        current = await tasks.get(s, user_id=task.user_id, task_id=task.id)
    assert current is not None
    assert (current.status, current.claimed_by) == (TaskStatus.SCHEDULED, "node-1")


async def test_a_change_between_read_and_write_raises_conflict(sessions: Sessions) -> None:
    task = await _task(sessions)

    async def race() -> None:
        async with sessions() as s, s.begin():
            loaded = await tasks.get(s, user_id=task.user_id, task_id=task.id)
            assert loaded is not None
            # Another writer changes the row behind the session's back (its identity map
            # keeps the old version): what a concurrent process looks like at flush time.
            await s.execute(
                update(Task)
                .where(Task.id == task.id)
                .values(status=TaskStatus.CANCELLED, version=Task.version + 1)
                .execution_options(synchronize_session=False, **task_events.recorded_options())
            )
            await tasks.update_status(
                s, user_id=task.user_id, task_id=task.id, expected_version=loaded.version,
                status=TaskStatus.SUCCEEDED, actor=TaskActor.SYSTEM,
            )  # fmt: skip

    with pytest.raises(VersionConflict):
        await race()


async def test_unknown_fields_are_refused(sessions: Sessions) -> None:
    task = await _task(sessions)
    async with sessions() as s, s.begin():
        with pytest.raises(ValueError, match="version"):
            await tasks.update_status(
                s, user_id=task.user_id, task_id=task.id, expected_version=task.version,
                status=TaskStatus.PENDING, actor=TaskActor.SYSTEM, version=99,
            )  # fmt: skip
