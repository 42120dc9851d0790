"""Every list page and list API comes 50 at a time, with links to its neighbours.

Before, the dashboard rendered every task (5,000 tasks: 10 MB, 205 ms) and each list API
returned everything (issue 13).
"""

from __future__ import annotations

import re
import uuid

import httpx

from database.models import TokenKind
from database.repositories import (
    access_tokens,
    calls,
    campaigns,
    conversations,
    dnd,
    feedback,
    messages,
    tasks,
    users,
)
from database.repositories.tasks import NewTask
from database.states import MessageChannel, TaskActor, TaskStatus
from tests.web.conftest import Web

MORE = 61  # a full page of 50, then 11


async def _seed(web: Web, email: str) -> int:
    """MORE of everything each list shows, and one campaign with 2 * 50 + 11 tasks."""
    async with web.sessions() as s, s.begin():
        user = await users.get_by_email(s, email)
        assert user is not None
        big = await campaigns.create(s, user_id=user.id, name="Big")
        for n in range(MORE - 1):
            await campaigns.create(s, user_id=user.id, name=f"Campaign {n}")
        await tasks.create_many(
            s, user_id=user.id, campaign_id=big.id,
            tasks=[NewTask(phone_number=f"+1415555{n:04d}", objective=f"task {n}")
                   for n in range(111)],
        )  # fmt: skip
        for n in range(MORE):
            await dnd.add(s, user_id=user.id, phone_number=f"+1212555{n:04d}")
            await access_tokens.create(
                s, user_id=user.id, kind=TokenKind.API, token_hash=f"{n:064d}", name=f"t{n}"
            )
            await conversations.create(s, user_id=user.id, title=f"chat {n}")
            await feedback.create(s, user_id=user.id, question=f"question {n}")
            await calls.create_dialing(
                s, user_id=user.id, call_id=str(uuid.uuid4()), phone_number="+14155550100"
            )
            await messages.record(
                s, user_id=user.id, channel=MessageChannel.EMAIL, to_address=email, body="b"
            )
        return big.id


def _link(response: httpx.Response, rel: str) -> str | None:
    match = re.search(rf'<([^>]+)>; rel="{rel}"', response.headers.get("link", ""))
    return match.group(1) if match else None


async def test_pagination_on_every_list_page_and_list_api(web: Web) -> None:
    client = await web.user("a@example.com")
    big = await _seed(web, "a@example.com")
    apis = {
        "/api/campaigns": MORE, "/api/tasks": 111, f"/api/tasks?campaign_id={big}": 111,
        "/api/calls": MORE, "/api/feedback": MORE, "/api/dnd": MORE, "/api/tokens": MORE,
        "/api/chat": MORE,
    }  # fmt: skip
    for path, total in apis.items():
        first = await client.get(path)
        assert first.status_code == 200, path
        assert len(first.json()) == 50, path
        assert _link(first, "prev") is None, path
        seen, url = [item["id"] for item in first.json()], _link(first, "next")
        while url is not None:
            page = await client.get(url)
            assert _link(page, "prev") is not None, url
            seen += [item["id"] for item in page.json()]
            url = _link(page, "next")
        assert len(seen) == len(set(seen)) == total, path  # every item once, none twice
    notes = await client.get("/api/notifications")
    assert len(notes.json()["items"]) == 50
    assert notes.json()["unread"] == 2 * MORE  # open questions and unseen messages, all
    second = await client.get(_link(notes, "next") or "")
    third = await client.get(_link(second, "next") or "")
    assert [len(r.json()["items"]) for r in (second, third)] == [50, 2 * MORE - 100]
    assert _link(third, "next") is None

    dashboard = (await client.get("/")).text
    assert dashboard.count('<tr><td data-label="Who">') == 50  # task rows
    assert 'href="/?page=2" rel="next"' in dashboard
    assert 'href="/?campaigns_page=2" rel="next"' in dashboard
    later = (await client.get("/?page=3&campaigns_page=2")).text
    assert later.count('<tr><td data-label="Who">') == 11
    assert 'href="/?campaigns_page=2&amp;page=2" rel="prev"' in later  # the other list stays
    assert 'href="/?page=3&amp;campaigns_page=1" rel="prev"' in later
    campaign = (await client.get(f"/campaigns/{big}?page=2")).text
    assert campaign.count('<tr><td data-label="Who">') == 50
    assert f'href="/campaigns/{big}?page=3" rel="next"' in campaign
    for path in ["/dnd", "/profile", "/chat", "/notifications"]:
        html = (await client.get(path)).text
        assert f'href="{path}?page=2" rel="next"' in html, path
    for bad in ["/api/tasks?page=0", "/api/tasks?page=10001", "/?page=-1", "/dnd?page=x"]:
        assert (await client.get(bad)).status_code == 422, bad


async def test_campaign_progress_counts_every_task_not_just_a_page(web: Web) -> None:
    client = await web.user("a@example.com")
    big = await _seed(web, "a@example.com")
    async with web.sessions() as s, s.begin():
        user = await users.get_by_email(s, "a@example.com")
        assert user is not None
        for task in (await tasks.list_for_user(s, user_id=user.id, campaign_id=big))[:3]:
            await tasks.update_status(
                s, user_id=user.id, task_id=task.id, expected_version=task.version,
                status=TaskStatus.SUCCEEDED, actor=TaskActor.SYSTEM,
            )  # fmt: skip
    progress = (await client.get(f"/api/campaigns/{big}")).json()["progress"]
    assert progress == {"total": 111, "done": 3, "by_status": {"pending": 108, "succeeded": 3}}
