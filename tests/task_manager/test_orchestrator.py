"""A plan becomes a campaign and tasks in one transaction; bad numbers refuse the whole plan."""

from __future__ import annotations

from datetime import time

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from common.call_policy import CallPolicy, VoicemailPolicy
from config.settings import CallingSettings
from database.models import Campaign, Task
from database.repositories import campaigns, tasks
from task_manager.orchestrator import (
    WINDOW_KEY,
    CampaignPlan,
    InvalidPlan,
    OrchestratorService,
)
from tests.support.platform_settings import ALWAYS
from tests.task_manager.helpers import (
    WEDNESDAY_15_UTC,
    FakeClock,
    FakeLauncher,
    Sessions,
    make_user,
    scheduler_on,
)


def plan(*numbers: str, **extra: object) -> CampaignPlan:
    return CampaignPlan.model_validate(
        {
            "name": "cleaning",
            "goal": "one appointment next week",
            "stop_after_successes": 1,
            "window": {"start": "10:00", "end": "18:00", "days": "tue,mon"},
            "tasks": [
                {"contact_name": f"c{i}", "phone_number": n, "objective": "book a cleaning"}
                for i, n in enumerate(numbers)
            ],
            **extra,
        }
    )


async def test_plan_becomes_campaign_and_e164_tasks(sessions: Sessions) -> None:
    user = await make_user(sessions)
    service = OrchestratorService(sessions, CallingSettings(default_region="GB"))
    the_plan = plan("020 7123 4567", "+1 (212) 555-1234")
    the_plan.tasks[1].window = None
    the_plan.tasks[0].time_zone = "Europe/London"
    created = await service.create_campaign(user.id, the_plan)
    async with sessions() as s:
        campaign = await campaigns.get(s, user_id=user.id, campaign_id=created.campaign_id)
        rows = await tasks.list_for_user(s, user_id=user.id, campaign_id=created.campaign_id)
    assert campaign is not None
    assert (campaign.window_start, campaign.window_end, campaign.window_days) == (
        time(10), time(18), "mon,tue",
    )  # fmt: skip
    assert campaign.stop_after_successes == 1
    assert [t.phone_number for t in rows] == ["+442071234567", "+12125551234"]
    assert [t.id for t in rows] == created.task_ids
    assert rows[0].inter_call_context == {WINDOW_KEY: {"time_zone": "Europe/London"}}


async def test_invalid_numbers_are_listed_and_nothing_is_stored(sessions: Sessions) -> None:
    user = await make_user(sessions)
    service = OrchestratorService(sessions, CallingSettings())
    with pytest.raises(InvalidPlan) as refused:
        await service.create_campaign(user.id, plan("+12125551234", "12", "+1 555 555 0100"))
    assert [(p.index, p.contact_name) for p in refused.value.problems] == [(1, "c1"), (2, "c2")]
    assert "task 2 (c1)" in str(refused.value)
    assert "not a valid phone number" in str(refused.value)
    async with sessions() as s:
        assert await s.scalar(select(func.count(Campaign.id))) == 0
        assert await s.scalar(select(func.count(Task.id))) == 0


def test_plan_validation_names_the_problem() -> None:
    with pytest.raises(ValidationError, match="days must be"):
        plan("+12125551234", window={"days": "someday"})
    with pytest.raises(ValidationError, match="start must be before"):
        plan("+12125551234", window={"start": "18:00", "end": "09:00"})
    with pytest.raises(ValidationError, match="at least 1 item"):
        CampaignPlan(name="x", tasks=[])


async def test_the_machine_and_hold_options_of_a_plan_reach_each_call(sessions: Sessions) -> None:
    """Chosen in the plan (the chat's plan editor), stored on the campaign, handed to the
    call in its context (the agent follows them, the analyzer decides by them)."""
    user = await make_user(sessions)
    service = OrchestratorService(sessions, ALWAYS)
    options = {"voicemail_policy": "leave_message", "voicemail_message_counts": True,
               "max_hold_minutes": 12, "asterisk_amd": True, "window": None}  # fmt: skip
    created = await service.create_campaign(user.id, plan("+12125551234", **options))
    async with sessions() as s:
        campaign = await campaigns.get(s, user_id=user.id, campaign_id=created.campaign_id)
    assert campaign is not None
    assert campaigns.policy_of(campaign) == CallPolicy(
        VoicemailPolicy.LEAVE_MESSAGE, message_counts=True, max_hold_minutes=12, asterisk_amd=True
    )
    launcher = FakeLauncher(slots=1)
    [launched] = await scheduler_on(sessions, launcher, FakeClock(WEDNESDAY_15_UTC)).tick()
    assert CallPolicy.from_context(launched.context) == campaigns.policy_of(campaign)
    assert launched.context["voicemail_policy"] == "leave_message"


def test_a_plan_without_options_takes_the_defaults_and_refuses_bad_ones() -> None:
    assert plan("+12125551234").policy == CallPolicy()
    assert CallPolicy().voicemail is VoicemailPolicy.HANG_UP_AND_RETRY
    assert CallPolicy().max_hold_minutes == 30
    with pytest.raises(ValidationError):
        plan("+12125551234", voicemail_policy="sing_a_song")
    with pytest.raises(ValidationError):
        plan("+12125551234", max_hold_minutes=90)  # a Realtime session lasts 60 minutes
