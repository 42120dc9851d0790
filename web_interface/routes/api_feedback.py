"""Questions the agent asks during a call, and the person's answers going back to it."""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException, Request, Response, status

from common.commands import FeedbackAnswer
from database.repositories import feedback
from web_interface.deps import Bus, CallsUser, DbSession, ReadUser
from web_interface.pagination import FETCH, offset, page_of, set_link_header
from web_interface.schemas import (
    FeedbackAnswered,
    FeedbackAnswerIn,
    FeedbackPublic,
    Id,
    PageNumber,
)
from web_interface.views import not_found

router = APIRouter(prefix="/api/feedback", tags=["feedback"])
log = logging.getLogger(__name__)


@router.get("")
async def list_open(
    request: Request, response: Response, user: ReadUser, s: DbSession, page: PageNumber = 1
) -> list[FeedbackPublic]:
    rows = await feedback.list_open(s, user_id=user.id, offset=offset(page), limit=FETCH)
    found = page_of([FeedbackPublic.model_validate(r) for r in rows], page)
    set_link_header(response, request, found)
    return found.items


@router.post("/{request_id}/answer")
async def answer(
    request_id: Id, body: FeedbackAnswerIn, user: CallsUser, s: DbSession, bus: Bus
) -> FeedbackAnswered:
    """Close the question (only while open), then hand the answer to the call.

    The publish happens inside the transaction: if the bus refuses it, the row stays open
    and the person can try again, rather than a closed question the call never heard.
    Once committed, every open page of the person is told the question is closed
    (`FeedbackClosed`, queued by the repository for after the commit).
    """
    row = await feedback.answer(s, user_id=user.id, request_id=request_id, answer=body.answer)
    if row is None:
        if await feedback.get(s, user_id=user.id, request_id=request_id) is None:
            raise not_found("question")
        raise HTTPException(status.HTTP_409_CONFLICT, "this question is no longer open")
    delivered = 0
    if row.call_id is not None:
        command = FeedbackAnswer(request_id=row.id, answer=body.answer)
        delivered = await bus.publish(row.call_id, command)
        log.info(
            "feedback answered",
            extra={"call_id": row.call_id, "request_id": row.id, "receivers": delivered},
        )
    return FeedbackAnswered(id=row.id, status=str(row.status), delivered=delivered > 0)
