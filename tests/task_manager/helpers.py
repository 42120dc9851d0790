"""Test doubles of the task engine's own interfaces, and row builders."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from call_processor.finished_call import FinishedCall
from common.call_outcomes import AgentOutcome
from config.settings import CallingSettings
from database.models import Task, User
from database.repositories import phone_codes, tasks, users
from database.states import CallStatus
from task_manager.call_launcher import OnCallDone, PlannedCall
from task_manager.scheduler import TaskSchedulerService
from tests.support.platform_settings import ALWAYS

Sessions = async_sessionmaker[AsyncSession]


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class FakeLauncher:
    """Records launches; a test ends a call with `finish` and a scripted report."""

    slots: int = 5
    launched: list[PlannedCall] = field(default_factory=list)
    active: dict[int, tuple[PlannedCall, OnCallDone]] = field(default_factory=dict)

    def capacity(self) -> int:
        return self.slots - len(self.active)

    def launch(self, call: PlannedCall, on_done: OnCallDone) -> None:
        assert call.task_id not in self.active, "task launched twice at once"
        assert len(self.active) < self.slots, "launched above capacity"
        self.launched.append(call)
        self.active[call.task_id] = (call, on_done)

    async def finish(self, task_id: int, finished: FinishedCall) -> None:
        call, on_done = self.active.pop(task_id)
        await on_done(call, finished)


async def ignore_call_done(_call: PlannedCall, _finished: FinishedCall) -> None:
    """For a test that does not look at how its calls end."""


def scheduler_on(
    sessions: Sessions,
    launcher: FakeLauncher,
    clock: FakeClock,
    *,
    on_call_done: OnCallDone = ignore_call_done,
    calling: CallingSettings = ALWAYS,
    node_id: str = "node-a",
) -> TaskSchedulerService:
    """The product's scheduler on the test's launcher and clock; the test calls tick()."""
    return TaskSchedulerService(
        sessions=sessions, launcher=launcher, on_call_done=on_call_done, calling=calling,
        node_id=node_id, clock=clock,
    )  # fmt: skip


def report(status: str, **fields: Any) -> FinishedCall:
    """A finished call as a test scripts it (the product builds them from the calls row)."""
    call_id = fields.pop("call_id", None)
    if "agent_outcome" in fields:
        fields["agent_outcome"] = AgentOutcome.parse(fields["agent_outcome"])
    outcome = fields.pop("outcome", fields.get("agent_outcome") or status)
    return FinishedCall(call_id, CallStatus(status), str(outcome), **fields)


async def make_user(sessions: Sessions, **fields: Any) -> User:
    async with sessions() as s, s.begin():
        return await users.create(
            s, email=f"u-{uuid.uuid4().hex}@example.org", password_hash="x", **fields
        )


async def verify_phone(sessions: Sessions, user: User) -> None:
    """The person proved their number (as a right code does, web_interface/phone_check.py)."""
    assert user.phone_number is not None
    async with sessions() as s, s.begin():
        assert await phone_codes.mark_verified(
            s, user_id=user.id, phone_number=user.phone_number, at=datetime.now(UTC)
        )


async def add_task(sessions: Sessions, user_id: int, number: str, **fields: Any) -> Task:
    campaign_id = fields.pop("campaign_id", None)
    new = tasks.NewTask(phone_number=number, objective=fields.pop("objective", "book"), **fields)
    async with sessions() as s, s.begin():
        return await tasks.create(s, user_id=user_id, task=new, campaign_id=campaign_id)


async def get_task(sessions: Sessions, task: Task) -> Task:
    async with sessions() as s:
        row = await tasks.get(s, user_id=task.user_id, task_id=task.id)
    assert row is not None
    return row


# A Wednesday, 15:00 UTC: 10:00 in New York, 07:00 in Los Angeles, 15:00 in London.
WEDNESDAY_15_UTC = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
NEW_YORK = "+12125551234"
LOS_ANGELES = "+14155550100"
LONDON = "+442071234567"
