"""A confirmed campaign plan becomes a campaign row and its task rows, all or nothing.

Why validate everything before writing: a plan with one bad number must not half-start a
campaign; the person gets every problem at once (one reason per task) and nothing is stored.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator, model_validator
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.call_policy import (
    DEFAULT_MAX_HOLD_MINUTES,
    MAX_HOLD_MINUTES,
    CallPolicy,
    RecordingPolicy,
    VoicemailPolicy,
)
from common.phone_numbers import to_e164
from config.settings import CallingSettings
from database.repositories import campaigns, tasks
from task_manager.calling_hours import (
    WindowOverride,
    format_days,
    override_to_dict,
    parse_days,
)

WINDOW_KEY = "calling_window"  # in a task's inter_call_context and a user's profile


class WindowPlan(BaseModel):
    """Callee-local calling hours; unset fields keep the more general setting."""

    start: time | None = None
    end: time | None = None
    days: str | None = None  # "mon,tue,..."

    @field_validator("days")
    @classmethod
    def _valid_days(cls, value: str | None) -> str | None:
        return None if value is None else format_days(parse_days(value))

    @model_validator(mode="after")
    def _ordered(self) -> WindowPlan:
        if self.start and self.end and not self.start < self.end:
            raise ValueError("window start must be before its end")
        return self

    def override(self) -> WindowOverride:
        days = parse_days(self.days) if self.days else None
        return WindowOverride(start=self.start, end=self.end, days=days)


# Any time the operator's calling hours allow (a plan can only narrow them): for calls the
# person waits on, a test call or the call that reads them a code.
ALL_DAY = WindowPlan(start=time(0, 0), end=time(23, 59), days="mon,tue,wed,thu,fri,sat,sun")


class TaskPlan(BaseModel):
    contact_name: str = Field(default="", max_length=200)
    phone_number: str = Field(min_length=1, max_length=40)
    objective: str = Field(min_length=1)
    context: str = ""
    success_criteria: str = ""
    max_attempts: int = Field(default=3, ge=1, le=20)
    priority: int = Field(default=0, ge=tasks.MIN_PRIORITY, le=tasks.MAX_PRIORITY)
    window: WindowPlan | None = None
    time_zone: str | None = None  # overrides the zones guessed from the number

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError("unknown time zone") from None
        return value


class CampaignPlan(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    goal: str = ""
    language: str = Field(default="", max_length=40)  # the callees' language, e.g. "Spanish"
    stop_after_successes: int | None = Field(default=None, ge=1)
    window: WindowPlan | None = None
    voicemail_policy: VoicemailPolicy = Field(
        default=VoicemailPolicy.HANG_UP_AND_RETRY,
        description="When an answering machine answers: hang_up_and_retry (say nothing, "
        "call again later), leave_message (a short message after the beep: who is calling "
        "for whom and why, no personal details) or notify_person (hang up and ask them).",
    )
    voicemail_message_counts: bool = Field(
        default=False,
        description="With leave_message: a message left counts as the call's success.",
    )
    max_hold_minutes: int = Field(
        default=DEFAULT_MAX_HOLD_MINUTES,
        ge=1,
        le=MAX_HOLD_MINUTES,
        description="How long the agent waits on hold before hanging up to try again later.",
    )
    asterisk_amd: bool = Field(
        default=False,
        description="Also run Asterisk's AMD() before the agent; it costs the callee's "
        "greeting (2-5 s of silence on their side). Leave off unless the operator asks.",
    )
    recording: RecordingPolicy = Field(
        default=RecordingPolicy.OFF,
        description="Record the calls (both sides): off, announce (the agent says the call "
        "is recorded) or on (no announcement: only where one party's consent is enough). "
        "Leave off unless the person asks for recordings.",
    )
    tasks: list[TaskPlan] = Field(min_length=1, max_length=5000)

    @property
    def policy(self) -> CallPolicy:
        return CallPolicy(
            voicemail=self.voicemail_policy,
            message_counts=self.voicemail_message_counts,
            max_hold_minutes=self.max_hold_minutes,
            asterisk_amd=self.asterisk_amd,
            recording=self.recording,
        )


@dataclass(frozen=True, slots=True)
class TaskProblem:
    index: int
    contact_name: str
    reason: str


class InvalidPlan(ValueError):
    """The plan was refused; `problems` names each task and why. Nothing was stored."""

    def __init__(self, problems: list[TaskProblem]) -> None:
        lines = [
            f"task {p.index + 1} ({p.contact_name or 'unnamed'}): {p.reason}" for p in problems
        ]
        super().__init__("; ".join(lines))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class CreatedCampaign:
    campaign_id: int
    task_ids: list[int]


class OrchestratorService:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], calling: CallingSettings
    ) -> None:
        self.sessions = sessions
        self.calling = calling

    def prepare(self, plan: CampaignPlan) -> list[tasks.NewTask]:
        """The task rows to write, or InvalidPlan listing every task that is wrong."""
        problems: list[TaskProblem] = []
        rows: list[tasks.NewTask] = []
        for index, task in enumerate(plan.tasks):
            try:
                number = to_e164(task.phone_number, self.calling.default_region)
            except ValueError as exc:
                problems.append(TaskProblem(index, task.contact_name, str(exc)))
                continue
            rows.append(_new_task(task, number))
        if problems:
            raise InvalidPlan(problems)
        return rows

    async def create_campaign(self, user_id: int, plan: CampaignPlan) -> CreatedCampaign:
        # In a worker thread: parsing thousands of numbers would stall the event loop.
        rows = await asyncio.to_thread(self.prepare, plan)
        window = plan.window or WindowPlan()
        async with self.sessions() as s, s.begin():
            campaign = await campaigns.create(
                s,
                user_id=user_id,
                name=plan.name,
                goal=plan.goal,
                stop_after_successes=plan.stop_after_successes,
                window_start=window.start,
                window_end=window.end,
                window_days=window.days,
                language=plan.language,
                policy=plan.policy,
            )
            created = await tasks.create_many(
                s, user_id=user_id, campaign_id=campaign.id, tasks=rows
            )
        return CreatedCampaign(campaign.id, [t.id for t in created])


def _new_task(task: TaskPlan, number: str) -> tasks.NewTask:
    context: dict[str, Any] = {}
    stored = override_to_dict(task.window.override()) if task.window else {}
    if task.time_zone:
        stored["time_zone"] = task.time_zone
    if stored:
        context[WINDOW_KEY] = stored
    return tasks.NewTask(
        phone_number=number,
        objective=task.objective,
        contact_name=task.contact_name,
        context=task.context,
        success_criteria=task.success_criteria,
        priority=task.priority,
        max_attempts=task.max_attempts,
        inter_call_context=context,
    )
