"""A verification code on its way to the person's own number: a text when SMS is
configured, otherwise a call from OpenDeep whose agent reads it out.

Why a call goes through a campaign: like a test call, it then passes the same scheduler,
do-not-call lists, calling hours and call slots as any other call. The one task is marked
(phone_codes.VERIFICATION_KEY), so its words are never shown to the person and its
decision never quotes them (the analyzer's fixed rule): the code is learned only by
answering that phone. The code itself sits in the task's context (what the agent is told),
which no page or API shows. The web app makes the code and keeps only its hash
(web_interface/phone_check.py); it reaches this service through the ChatAssistant
protocol (web_interface/assistant.py).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from database.models import Task
from database.repositories import campaigns, phone_codes, task_events, tasks, users
from database.states import MessageStatus, TaskActor, TaskStatus
from task_manager.calling_hours import override_to_dict
from task_manager.notifier import Notifier
from task_manager.orchestrator import ALL_DAY, WINDOW_KEY

log = logging.getLogger(__name__)
CAMPAIGN_NAME = "Verify your phone number"
OBJECTIVE = "Read the person their OpenDeep verification code, then end the call."
WAITING = (TaskStatus.PENDING, TaskStatus.RETRY_SCHEDULED)
REPLACED = "a newer code was asked for"


def call_context(code: str, valid_minutes: int) -> str:
    """What the agent is told (the task's context): the code, digit by digit, twice."""
    digits = " ".join(code)
    return (
        "You are calling the person you work for, on their own phone, only to tell them "
        "their OpenDeep verification code. Say that this is OpenDeep with their "
        f"verification code. Then read the code digit by digit: {digits}. Then say "
        f"'once more' and read it again digit by digit: {digits}. Say it is valid for "
        f"{valid_minutes} minutes and is typed into their OpenDeep profile page. Then say "
        "goodbye and end the call with end_call, outcome success. Do not ask anything, "
        "and do not say the code in any other way."
    )


def sms_text(code: str, valid_minutes: int) -> str:
    return f"Your OpenDeep verification code is {code}. It is valid for {valid_minutes} minutes."


class PhoneCodeDelivery:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], notifier: Notifier | None = None
    ) -> None:
        """A text when `notifier` has SMS configured, otherwise a call."""
        self.sessions = sessions
        self.notifier = notifier

    @property
    def by_sms(self) -> bool:
        return self.notifier is not None and self.notifier.sms is not None

    async def send(
        self, user_id: int, phone_number: str, code: str, valid_minutes: int
    ) -> dict[str, Any]:
        """{"channel": "sms"}, {"channel": "call", "campaign_id": n} or {"problems": [...]}."""
        if self.notifier is not None and self.by_sms:
            shown = sms_text("•" * len(code), valid_minutes)
            try:
                message = await self.notifier.send_code(
                    user_id, phone_number, sms_text(code, valid_minutes), shown
                )
            except ValueError as exc:  # the number changed meanwhile
                return {"problems": [str(exc)]}
            if message.status != MessageStatus.SENT:
                return {"problems": [f"the text could not be sent: {message.error}"]}
            return {"channel": "sms"}
        campaign_id = await self._call(user_id, phone_number, code, valid_minutes)
        return {"channel": "call", "campaign_id": campaign_id}

    async def _call(self, user_id: int, phone_number: str, code: str, valid_minutes: int) -> int:
        """A one-task campaign due now at the top priority; an earlier code's call that
        has not started yet stands down (its code no longer works)."""
        async with self.sessions() as s, s.begin():
            person = await users.get_or_raise(s, user_id)
            replaced = await _stand_down_earlier(s, user_id)
            campaign = await campaigns.create(s, user_id=user_id, name=CAMPAIGN_NAME)
            task = tasks.NewTask(
                phone_number=phone_number,
                objective=OBJECTIVE,
                contact_name=person.display_name or "you",
                context=call_context(code, valid_minutes),
                success_criteria="the code was read out twice",
                priority=tasks.MAX_PRIORITY,  # the person is waiting on it
                max_attempts=1,
                inter_call_context={
                    WINDOW_KEY: override_to_dict(ALL_DAY.override()),
                    phone_codes.VERIFICATION_KEY: True,
                },
            )
            await tasks.create(s, user_id=user_id, task=task, campaign_id=campaign.id)
        log.info("verification call planned", extra={"campaign_id": campaign.id,
                                                     "replaced": replaced})  # fmt: skip
        return campaign.id


async def _stand_down_earlier(s: AsyncSession, user_id: int) -> int:
    waiting = await s.scalars(
        select(Task).where(
            Task.user_id == user_id, Task.objective == OBJECTIVE, Task.status.in_(WAITING)
        )
    )
    ids = [t.id for t in waiting if phone_codes.is_verification(t.inter_call_context)]
    if not ids:
        return 0
    return await task_events.move_where(
        s,
        [Task.id.in_(ids), Task.status.in_(WAITING)],
        TaskStatus.CANCELLED,
        actor=TaskActor.SYSTEM,
        reason=REPLACED,
        last_decision=str(TaskStatus.CANCELLED),
        last_decision_reason=REPLACED,
    )
