"""Recovery reads the attempt's own call, never a call-back that shares its number."""

from __future__ import annotations

from datetime import timedelta

from database.repositories import calls
from database.states import CallDirection, CallStatus, TaskStatus
from database.types import utcnow
from tests.task_manager.helpers import (
    NEW_YORK,
    WEDNESDAY_15_UTC,
    FakeClock,
    Sessions,
    get_task,
    make_user,
)
from tests.task_manager.test_lifecycle_manager import call_status, live_task, manager


async def test_a_dead_attempt_is_decided_from_its_own_call_not_a_later_call_back(
    sessions: Sessions,
) -> None:
    user = await make_user(sessions)
    task = await live_task(sessions, user.id, "dead-node", timedelta(seconds=-1))
    async with sessions() as s, s.begin():  # they rang back after it, and it went well
        await calls.create_dialing(
            s, user_id=user.id, call_id="call-back", phone_number=NEW_YORK, task_id=task.id,
            started_at=utcnow() + timedelta(minutes=1), direction=CallDirection.INBOUND,
        )  # fmt: skip
        await calls.update(
            s, user_id=user.id, call_id="call-back", status=CallStatus.COMPLETED,
            outcome="success", agent_outcome="success",
        )  # fmt: skip
    result = await manager(sessions, FakeClock(WEDNESDAY_15_UTC)).sweep()
    assert result.recovered == 1
    assert await call_status(sessions, user.id, task.id) == CallStatus.INTERRUPTED
    row = await get_task(sessions, task)
    assert (row.status, row.attempt_count) == (TaskStatus.RETRY_SCHEDULED, 0)
