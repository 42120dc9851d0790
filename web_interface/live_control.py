"""The person acts on live work: hang up a call, take it over, pause/resume/cancel a
campaign, settle a task that needs them. Shared by the JSON API and the page forms.

A live call is reached only through its command channel (common/commands.py), the same
path the agent's own tools use, whichever process runs the call; the call's handler does
the rest over AMI and records it on the call's row (a person's hang-up is the end reason
`person_hangup`). Campaigns and tasks change only through the task engine's WorkControl
(work_control.py): the web app writes no campaign or task row itself.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import HTTPException, status
from sqlalchemy.ext.asyncio import AsyncSession

from common.command_bus import CommandBus
from common.commands import PERSON_HANGUP, CallCommand, Hangup, Transfer
from database.errors import NotFound
from database.models import Call, User
from database.repositories import calls
from database.states import CallStatus
from web_interface.deps import WebDeps
from web_interface.schemas import CallControlled, WorkChanged
from web_interface.views import not_found
from web_interface.work_control import WorkControl

log = logging.getLogger(__name__)
LIVE = (CallStatus.DIALING, CallStatus.RINGING, CallStatus.ANSWERED)
NOT_VERIFIED = (
    "your phone number is not verified yet, so a call cannot be handed to you: "
    "verify it on your profile page first"
)


async def _live_call(s: AsyncSession, user_id: int, call_id: str) -> Call:
    call = await calls.get(s, user_id=user_id, call_id=call_id)
    if call is None:
        raise not_found("call")
    if call.status not in LIVE:
        raise HTTPException(status.HTTP_409_CONFLICT, "this call is over")
    return call


async def _send(bus: CommandBus, call: Call, command: CallCommand, action: str) -> CallControlled:
    delivered = await bus.publish(call.id, command)
    log.info("person acted on a call", extra={"call_id": call.id, "action": action,
                                               "receivers": delivered})  # fmt: skip
    if not delivered:  # the row looks live but no handler listens (it has just ended)
        raise HTTPException(status.HTTP_409_CONFLICT, "this call is not running any more")
    return CallControlled(call_id=call.id, action=action, delivered=True)


async def hang_up(s: AsyncSession, bus: CommandBus, user: User, call_id: str) -> CallControlled:
    call = await _live_call(s, user.id, call_id)
    return await _send(bus, call, Hangup(reason=PERSON_HANGUP), "hangup")


async def take_over(s: AsyncSession, bus: CommandBus, user: User, call_id: str) -> CallControlled:
    """The callee is bridged to the person's own, verified number, as the agent's
    transfer_to_user does; the agent leaves the call."""
    call = await _live_call(s, user.id, call_id)
    if not user.phone_number or user.phone_verified_at is None:
        raise HTTPException(status.HTTP_409_CONFLICT, NOT_VERIFIED)
    if call.status != CallStatus.ANSWERED:
        raise HTTPException(status.HTTP_409_CONFLICT, "the call has not been answered yet")
    if any(
        e.kind == "transfer" for e in await calls.list_events(s, user_id=user.id, call_id=call_id)
    ):
        raise HTTPException(status.HTTP_409_CONFLICT, "this call has already been handed over")
    return await _send(bus, call, Transfer(target=user.phone_number), "take_over")


def control_or_503(deps: WebDeps) -> WorkControl:
    if deps.control is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the task engine is not running")
    return deps.control


async def release(s: AsyncSession) -> None:
    """End this request's unit of work before the task engine starts its own: on SQLite a
    transaction left open here would hold the write lock it needs."""
    await s.commit()


async def campaign_action(
    s: AsyncSession, deps: WebDeps, user: User, campaign_id: int, action: str
) -> WorkChanged:
    control = control_or_503(deps)
    await release(s)
    act = {"pause": control.pause, "resume": control.resume, "cancel": control.cancel}[action]
    try:
        result = await act(user.id, campaign_id)
    except NotFound:
        raise not_found("campaign") from None
    return _changed(result)


async def settle(
    s: AsyncSession, deps: WebDeps, user: User, task_id: int, decision: str, note: str
) -> WorkChanged:
    control = control_or_503(deps)
    await release(s)
    try:
        result = await control.settle(user.id, task_id, decision, note)
    except NotFound:
        raise not_found("task") from None
    return _changed(result)


def _changed(result: dict[str, Any]) -> WorkChanged:
    if "refused" in result:
        raise HTTPException(status.HTTP_409_CONFLICT, str(result["refused"]))
    return WorkChanged(**result)
