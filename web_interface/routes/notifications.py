"""What needs the person: tasks waiting on them, open questions, messages sent to them.

Built from rows, not a table of its own: a needs_user task, an open question and a
messages row (summaries, lifecycle check-ins) already are the notifications. "New" means
after the person last opened the notifications page, a time kept in their profile JSON;
the badge counts new messages plus everything still waiting on them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from database.models import User
from database.repositories import feedback, messages, tasks, users
from database.states import TaskStatus
from database.types import utcnow
from web_interface.deps import DbSession, PageUser, ReadUser
from web_interface.schemas import NotificationPublic, NotificationsPublic
from web_interface.templating import render

router = APIRouter(tags=["notifications"])
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def seen_at(user: User) -> datetime:
    return user.profile.notifications_seen_at or EPOCH


async def collect(s: AsyncSession, user: User) -> NotificationsPublic:
    since = seen_at(user)
    waiting = await tasks.list_for_user(s, user_id=user.id, statuses=[TaskStatus.NEEDS_USER])
    items = [
        NotificationPublic(
            kind="needs_user",
            title=f"{t.contact_name or 'A task'} needs you",
            body=t.last_decision_reason or t.objective,
            link=f"/campaigns/{t.campaign_id}" if t.campaign_id else None,
            at=t.updated_at,
            new=True,
        )
        for t in waiting
    ]
    for q in await feedback.list_open(s, user_id=user.id):
        link = f"/calls/{q.call_id}" if q.call_id else None
        items.append(
            NotificationPublic(
                kind="question",
                title="The agent asks",
                body=q.question,
                link=link,
                at=q.created_at,
                new=True,
            )
        )
    for m in await messages.list_for_user(s, user_id=user.id, limit=50):
        items.append(
            NotificationPublic(
                kind="message",
                title=m.subject or f"{m.channel} message",
                body=m.body,
                link=None,
                at=m.created_at,
                new=m.created_at > since,
            )
        )
    items.sort(key=lambda n: n.at, reverse=True)
    return NotificationsPublic(unread=sum(n.new for n in items), items=items)


@router.get("/api/notifications")
async def list_notifications(user: ReadUser, s: DbSession) -> NotificationsPublic:
    return await collect(s, user)


@router.get("/notifications")
async def notifications_page(request: Request, user: PageUser, s: DbSession) -> Response:
    found = await collect(s, user)
    seen = user.profile.model_copy(update={"notifications_seen_at": utcnow()})
    await users.update(s, user.id, profile=seen)
    return render(request, "notifications.html", {"notifications": found}, user=user)
