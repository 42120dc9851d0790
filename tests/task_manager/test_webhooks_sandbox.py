"""Webhooks and task events for real sandbox calls, with the platform as main.py builds it.

A local receiver gets signed webhooks for a sandbox call, in order per task; it answers
500 three times, and the fourth try succeeds; between the second and the third try the
delivery worker stops, the platform stops, and a new platform on the same PostgreSQL
database sends the rest: nothing is lost. Every task status change of a sandbox campaign
is in task_events and reaches the person's live stream (/ws/events, over Redis).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from common.webhook_events import EVENT_TYPES, TaskWebhook
from common.webhook_signature import HEADER, SignatureError, verify
from config.settings import WebhookSettings
from database.models import TaskEvent
from database.repositories import campaigns, dnd, task_events, tasks, users, webhooks
from launcher.platform import PlatformOverrides, build_platform
from tests.calls.conftest import call_stack, wait_until
from tests.support.platform_process import fresh_postgres_database
from tests.support.platform_settings import ALWAYS, platform_settings
from tests.support.sandbox import BUSY, PERSON, Sandbox
from tests.support.webhook_receiver import Received, WebhookReceiver
from tests.task_manager.test_campaign_sandbox import SuccessTalkers, wait_for_final
from tests.web.conftest import sign_up
from web_interface.security import SESSION_COOKIE

pytestmark = pytest.mark.sandbox
# Retries every ~0.5-1 s at first; local receivers on loopback are allowed here.
HOOKS = WebhookSettings(allow_private_targets=True, retry_base=1.0, retry_max=2.0, poll=0.1)
PER_TASK = ["call.started", "call.answered", "call.ended", "task.succeeded"]


def fails_three_times() -> Any:
    """500 for the first three tries of the first event sent, 200 for everything else.

    Per event, not per request: events of different tasks (and campaign.finished) are
    not ordered against each other, so another event may be sent between two tries of
    the first one; a receiver that failed "the first three requests" would then fail
    that other event and let the first one through early."""
    first: list[str] = []
    tries = 0

    def answer(request: Received) -> int:
        nonlocal tries
        if not first:
            first.append(request.event.id)
        if request.event.id != first[0] or tries >= 3:
            return 200
        tries += 1
        return 500

    return answer


async def test_signed_webhooks_survive_failures_and_a_platform_restart_in_order(
    asterisk_sandbox: Sandbox, tmp_path: Path, postgres_url: str
) -> None:
    sb = asterisk_sandbox
    async with (
        fresh_postgres_database(postgres_url) as db,
        WebhookReceiver(fails_three_times()) as receiver,
    ):
        async with call_stack(
            sb, tmp_path, make_talkers=SuccessTalkers, task_engine=True, calling=ALWAYS,
            scheduler_poll=0.2, max_calls=1, database_url=db, webhook=HOOKS,
        ) as stack:  # fmt: skip
            assert stack.platform is not None
            assert stack.platform.webhooks is not None
            async with stack.sessions() as s, s.begin():
                endpoint = await webhooks.create_endpoint(
                    s, user_id=stack.user_id, url=receiver.url, events=EVENT_TYPES
                )
                campaign = await campaigns.create(s, user_id=stack.user_id, name="dentist")
                await tasks.create(
                    s, user_id=stack.user_id, campaign_id=campaign.id,
                    task=tasks.NewTask(phone_number="+" + sb.number(PERSON, "81001"),
                                       objective="book"),
                )  # fmt: skip
            await receiver.wait_for(lambda got: len(got) == 2, timeout=30)  # two 500s
            await stack.platform.webhooks.stop()  # the worker goes away mid-retries
            await wait_for_final(stack.sessions, stack.user_id, campaign.id)
            assert (await stack.platform.lifecycle.sweep()).campaigns_finished == 1
        before_restart = list(receiver.received)
        await asyncio.sleep(1.5)  # nobody sends while no platform runs
        assert receiver.received == before_restart
        again = platform_settings(tmp_path / "restarted", database_url=db, webhook=HOOKS)
        async with build_platform(again, PlatformOverrides(task_engine=False, web=False)) as p:
            await receiver.wait_for(lambda got: len(_delivered(got)) == 5, timeout=30)
            log = await _settled_log(p.sessions, stack.user_id, endpoint.id)

    assert [r.status for r in before_restart] == [500, 500]
    first_event = before_restart[0].event.id
    tries = [r.status for r in receiver.received if r.event.id == first_event]
    assert tries == [500, 500, 500, 200]  # the fourth try succeeds
    delivered = _delivered(receiver.received)
    assert sorted(r.event.type for r in delivered) == sorted([*PER_TASK, "campaign.finished"])
    assert len({r.event.id for r in delivered}) == 5  # each event once (no loss, no repeat)
    assert [r.event.type for r in delivered if r.event.type in PER_TASK] == PER_TASK
    succeeded = next(r.event for r in delivered if isinstance(r.event, TaskWebhook))
    assert (succeeded.data.previous_status, succeeded.data.status) == ("in_progress", "succeeded")
    for request in receiver.received:  # every try signed with the endpoint's secret
        verify(endpoint.secret, request.body, request.headers[HEADER.lower()])
        assert request.headers["opendeep-event-id"] == request.event.id
        with pytest.raises(SignatureError):  # a changed body is detected
            verify(endpoint.secret, request.body + b" ", request.headers[HEADER.lower()])
        with pytest.raises(SignatureError):  # so is another secret
            verify("whsec_not-theirs", request.body, request.headers[HEADER.lower()])
    by_type = {d.event_type: d for d in log}
    assert all(d.delivery.status == "delivered" for d in log)
    started = by_type["call.started"]
    assert [a.status_code for a in started.attempts] == [500, 500, 500, 200]  # the log: all four
    assert [a.attempted_at for a in started.attempts] == sorted(
        a.attempted_at for a in started.attempts
    )


async def _settled_log(sessions: Any, user_id: int, endpoint_id: int) -> list[Any]:
    """The delivery log once nothing in it is pending (an attempt is recorded just after
    the receiver answered it)."""
    async with asyncio.timeout(10):
        while True:
            async with sessions() as s:
                log = await webhooks.deliveries(s, user_id=user_id, endpoint_id=endpoint_id)
            if all(d.delivery.status != "pending" for d in log):
                return log
            await asyncio.sleep(0.05)


def _delivered(received: list[Received]) -> list[Received]:
    return [r for r in received if r.status == 200]


async def test_every_task_status_change_is_stored_and_streamed_live(
    asterisk_sandbox: Sandbox, tmp_path: Path, redis_url: str
) -> None:
    """Three tasks: one answered (succeeded), one busy with one attempt (failed), one on
    the person's do-not-call list (cancelled_dnd); the page's socket sees every change."""
    sb = asterisk_sandbox
    async with call_stack(
        sb, tmp_path, make_talkers=SuccessTalkers, task_engine=True, calling=ALWAYS,
        scheduler_poll=0.2, max_calls=1, web=True, redis_url=redis_url,
    ) as stack:  # fmt: skip
        base = f"127.0.0.1:{stack.web_port}"
        async with httpx.AsyncClient(base_url=f"http://{base}", timeout=10) as client:
            await sign_up(client, "timeline@example.com")
            cookie = f"{SESSION_COOKIE}={client.cookies[SESSION_COOKIE]}"
        async with websockets.connect(
            f"ws://{base}/ws/events", additional_headers={"Cookie": cookie}, open_timeout=5
        ) as socket:
            streamed: list[dict[str, Any]] = []
            reader = asyncio.get_running_loop().create_task(_read_task_events(socket, streamed))
            try:
                campaign_id, user_id = await _campaign(stack.sessions, sb)
                await wait_for_final(stack.sessions, user_id, campaign_id)
                stored = await _stored(stack.sessions, user_id, campaign_id)
                await wait_until(lambda: len(streamed) >= len(stored), timeout=10)
                async with stack.sessions() as s:
                    rows = await tasks.list_for_user(s, user_id=user_id, campaign_id=campaign_id)
            finally:
                reader.cancel()

    assert sorted(e["event_id"] for e in streamed) == [e.id for e in stored]
    by_task: dict[int, list[tuple[str | None, str]]] = defaultdict(list)
    for e in stored:
        by_task[e.task_id].append((e.from_status, e.to_status))
    live: dict[int, list[tuple[str | None, str]]] = defaultdict(list)
    for e in streamed:
        live[e["task_id"]].append((e["from_status"], e["to_status"]))
    assert live == by_task  # the same changes, in the same order per task
    final = {r.id: str(r.status) for r in rows}
    for task_id, changes in by_task.items():
        assert changes[0] == (None, "pending")
        assert all(a[1] == b[0] for a, b in itertools.pairwise(changes))
        assert changes[-1][1] == final[task_id]  # the timeline ends where the row is
    paths = sorted(tuple(to for _, to in changes) for changes in by_task.values())
    assert paths == sorted([
        ("pending", "scheduled", "in_progress", "succeeded"),
        ("pending", "scheduled", "in_progress", "failed"),
        ("pending", "scheduled", "cancelled_dnd"),
    ])  # fmt: skip
    assert {e["actor"] for e in streamed} == {"orchestrator", "scheduler", "analyzer"}


async def _read_task_events(
    socket: websockets.ClientConnection, into: list[dict[str, Any]]
) -> None:
    async for message in socket:
        event = json.loads(message)
        if event["type"] == "task_status":
            into.append(event)


async def _campaign(sessions: Any, sb: Sandbox) -> tuple[int, int]:
    async with sessions() as s, s.begin():
        user = await users.get_by_email(s, "timeline@example.com")
        assert user is not None
        blocked = "+" + sb.number(PERSON, "82003")
        await dnd.add(s, user_id=user.id, phone_number=blocked, reason="asked")
        campaign = await campaigns.create(s, user_id=user.id, name="timeline")
        await tasks.create_many(s, user_id=user.id, campaign_id=campaign.id, tasks=[
            tasks.NewTask(phone_number="+" + sb.number(PERSON, "82001"), objective="book"),
            tasks.NewTask(phone_number="+" + sb.number(BUSY, "82002"), objective="book",
                          max_attempts=1),
            tasks.NewTask(phone_number=blocked, objective="book"),
        ])  # fmt: skip
        return campaign.id, user.id


async def _stored(sessions: Any, user_id: int, campaign_id: int) -> list[TaskEvent]:
    async with sessions() as s:
        rows = await tasks.list_for_user(s, user_id=user_id, campaign_id=campaign_id)
        found = await task_events.for_tasks(s, user_id=user_id, task_ids=[r.id for r in rows])
    return sorted((e for events in found.values() for e in events), key=lambda e: e.id)
