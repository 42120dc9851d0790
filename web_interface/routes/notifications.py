"""What needs the person: tasks waiting on them, open questions, messages sent to them.

Built from rows, not a table of its own: a needs_user task, an open question and a
messages row (summaries, lifecycle check-ins) already are the notifications. "New" means
after the person last opened the notifications page, a time kept in their profile JSON;
the badge counts new messages plus everything still waiting on them (counted in the
database). The list is newest first, a page (50) at a time: page N needs at most the
newest N pages of each of the three sources.
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
from web_interface.pagination import FETCH, Page, links, offset, page_of, set_link_header
from web_interface.schemas import NotificationPublic, NotificationsPublic, PageNumber
from web_interface.templating import render

router = APIRouter(tags=["notifications"])
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
WAITING = [TaskStatus.NEEDS_USER]


def seen_at(user: User) -> datetime:
    return user.profile.notifications_seen_at or EPOCH


async def _newest(s: AsyncSession, user: User, want: int) -> list[NotificationPublic]:
    """The newest `want` of each source, merged newest first."""
    since = seen_at(user)
    waiting = await tasks.list_for_user(
        s, user_id=user.id, statuses=WAITING, limit=want, recently_changed_first=True
    )
    items = [
        NotificationPublic(
            kind="needs_user",
            title=f"{t.contact_name or 'A task'} needs you",
            body=t.last_decision_reason or t.objective,
            link=f"/campaigns/{t.campaign_id}" if t.campaign_id else None,
            at=t.updated_at,
            new=True,
            task_id=t.id,
        )
        for t in waiting
    ]
    for q in await feedback.list_open(s, user_id=user.id, limit=want, newest_first=True):
        link = f"/calls/{q.call_id}" if q.call_id else None
        items.append(
            NotificationPublic(
                kind="question", title="The agent asks", body=q.question, link=link,
                at=q.created_at, new=True, request_id=q.id,
            )
        )  # fmt: skip
    for m in await messages.list_for_user(s, user_id=user.id, limit=want):
        items.append(
            NotificationPublic(
                kind="message", title=m.subject or f"{m.channel} message", body=m.body,
                link=None, at=m.created_at, new=m.created_at > since,
            )
        )  # fmt: skip
    items.sort(key=lambda n: n.at, reverse=True)
    return items


async def collect(
    s: AsyncSession, user: User, page: int = 1
) -> tuple[NotificationsPublic, Page[NotificationPublic]]:
    start = offset(page)
    found = page_of((await _newest(s, user, start + FETCH))[start:], page)
    unread = (
        await tasks.count_for_user(s, user_id=user.id, statuses=WAITING)
        + await feedback.count_open(s, user_id=user.id)
        + await messages.count_since(s, user_id=user.id, since=seen_at(user))
    )
    return NotificationsPublic(unread=unread, items=found.items), found


@router.get("/api/notifications")
async def list_notifications(
    request: Request, response: Response, user: ReadUser, s: DbSession, page: PageNumber = 1
) -> NotificationsPublic:
    found, paged = await collect(s, user, page)
    set_link_header(response, request, paged)
    return found


@router.get("/notifications")
async def notifications_page(
    request: Request, user: PageUser, s: DbSession, page: PageNumber = 1
) -> Response:
    found, paged = await collect(s, user, page)
    seen = user.profile.model_copy(update={"notifications_seen_at": utcnow()})
    await users.update(s, user.id, profile=seen)
    context = {"notifications": found, "notification_pages": links(request, paged)}
    return render(request, "notifications.html", context, user=user)
