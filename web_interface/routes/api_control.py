"""JSON API to act on live work: hang up or take over a call, pause, resume or cancel a
campaign, settle a task that needs the person (web_interface/live_control.py).

API tokens need the `calls` scope; cookie requests the CSRF header. Another person's call,
campaign or task is a 404; a state that does not allow the action is a 409 saying why.
"""

from __future__ import annotations

from fastapi import APIRouter

from web_interface import live_control
from web_interface.deps import Bus, CallsUser, DbSession, Deps
from web_interface.schemas import CallControlled, CallId, Id, SettleIn, WorkChanged

router = APIRouter(prefix="/api", tags=["control"])


@router.post("/calls/{call_id}/hangup")
async def hang_up(call_id: CallId, user: CallsUser, s: DbSession, bus: Bus) -> CallControlled:
    """The call ends now; its row says the person ended it (end reason person_hangup)."""
    return await live_control.hang_up(s, bus, user, call_id)


@router.post("/calls/{call_id}/take-over")
async def take_over(call_id: CallId, user: CallsUser, s: DbSession, bus: Bus) -> CallControlled:
    """The callee is put through to the person's own verified number now."""
    return await live_control.take_over(s, bus, user, call_id)


@router.post("/campaigns/{campaign_id}/pause")
async def pause(campaign_id: Id, user: CallsUser, s: DbSession, deps: Deps) -> WorkChanged:
    return await live_control.campaign_action(s, deps, user, campaign_id, "pause")


@router.post("/campaigns/{campaign_id}/resume")
async def resume(campaign_id: Id, user: CallsUser, s: DbSession, deps: Deps) -> WorkChanged:
    return await live_control.campaign_action(s, deps, user, campaign_id, "resume")


@router.post("/campaigns/{campaign_id}/cancel")
async def cancel(campaign_id: Id, user: CallsUser, s: DbSession, deps: Deps) -> WorkChanged:
    return await live_control.campaign_action(s, deps, user, campaign_id, "cancel")


@router.post("/tasks/{task_id}/settle")
async def settle(
    task_id: Id, body: SettleIn, user: CallsUser, s: DbSession, deps: Deps
) -> WorkChanged:
    """done, retry (called again now) or fail, with a note kept as the decision's reason."""
    return await live_control.settle(s, deps, user, task_id, body.decision, body.note)
