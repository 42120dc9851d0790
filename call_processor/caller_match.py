"""Who is calling us: the person behind one of our tasks, someone to put through to the
owner, or an unknown caller.

Why the most recent call wins: several people on one install may have called the same
number; the caller is most likely returning the latest call, and the agent must only ever
see one person's task. The lookup across users (calls.latest_task_call_to) is keyed by the
number that person dialled, and everything read after it is that person's alone. An
unknown caller is put through to the owner only when exactly one person with a phone
number asked for it (Profile.forward_unknown_callers): on a shared install nobody can tell
whose caller it is otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from call_processor.call_initiator import CallRequest
from common.phone_numbers import caller_numbers
from database.models import Task
from database.repositories import calls, campaigns, tasks, users

INBOUND = "inbound"  # CallRequest.context["direction"] of a call-back


@dataclass(frozen=True, slots=True)
class CallBack:
    """A call-back to one of our tasks, as the request its agent is prepared from."""

    request: CallRequest


@dataclass(frozen=True, slots=True)
class Forward:
    """Put through to the owner: `user_id`'s phone; the call is stored as theirs."""

    user_id: int
    owner_phone: str
    caller: str  # the caller's number (E.164)


@dataclass(frozen=True, slots=True)
class Unknown:
    """Nobody we called, and nobody to put them through to."""


Route = CallBack | Forward | Unknown


async def route_caller(
    sessions: async_sessionmaker[AsyncSession],
    caller_digits: str,
    *,
    region: str,
    since: datetime,
) -> Route:
    """Where an inbound call from `caller_digits` (as delivered; "" when withheld) goes."""
    numbers = caller_numbers(caller_digits, region)
    if not numbers:
        return Unknown()  # withheld: nothing to match, nothing to store it under
    async with sessions() as s:
        call = await calls.latest_task_call_to(s, phone_numbers=numbers, since=since)
        if call is not None and call.task_id is not None:
            task = await tasks.get(s, user_id=call.user_id, task_id=call.task_id)
            if task is not None:
                context = await callback_context(s, task)
                return CallBack(
                    CallRequest(
                        user_id=task.user_id,
                        phone_number=call.phone_number,  # the number as we dialled it
                        task_id=task.id,
                        attempt_number=task.attempt_count,
                        context=context,
                    )
                )
        owners = await users.forwarding_unknown_callers(s)
    if len(owners) == 1 and owners[0].phone_number:
        return Forward(owners[0].id, owners[0].phone_number, numbers[0])
    return Unknown()


async def callback_context(s: AsyncSession, task: Task) -> dict[str, Any]:
    """What the agent is told: the task as an attempt would tell it, and that they called."""
    campaign = None
    if task.campaign_id is not None:
        campaign = await campaigns.get(s, user_id=task.user_id, campaign_id=task.campaign_id)
    return {
        "direction": INBOUND,
        "objective": task.objective,
        "contact_name": task.contact_name,
        "context": task.context,
        "success_criteria": task.success_criteria,
        "campaign_goal": campaign.goal if campaign is not None else "",
        "attempt_number": task.attempt_count,
        "max_attempts": task.max_attempts,
        "inter_call_context": dict(task.inter_call_context or {}),
    }
