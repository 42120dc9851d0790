"""Two delivery workers (two processes' worth) on one PostgreSQL outbox: every event is
delivered exactly once when the receiver says 200, each task's events in order, even
when the receiver fails some tries; a worker that dies mid-lease is covered by another."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import timedelta
from itertools import count
from pathlib import Path

import pytest
from sqlalchemy import update

from common.webhook_events import CampaignData, CampaignWebhook, new_event_id
from config.settings import WebhookSettings
from database.engine import create_engine_for, session_factory
from database.models import WebhookDelivery
from database.repositories import users, webhook_deliveries, webhook_outbox, webhooks
from database.types import utcnow
from task_manager.webhook_delivery import WebhookDeliveryService, backoff
from tests.support.webhook_receiver import Received, WebhookReceiver
from tests.task_manager.conftest import Sessions


@pytest.fixture
async def pg_sessions(pg_url: str, tmp_path: Path) -> AsyncIterator[Sessions]:
    engine = create_engine_for(pg_url, tmp_path)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


KEYS = ("task:1", "task:2", "task:3")
PER_KEY = 8
HOOKS = WebhookSettings(allow_private_targets=True, retry_base=0.05, retry_max=0.2, poll=0.05)


def _event(key: str, n: int) -> CampaignWebhook:
    """Any typed event will do; the campaign shape carries the order in its name."""
    data = CampaignData(campaign_id=1, name=f"{key}#{n}", status="completed",
                        finished_at=None, summary=None)  # fmt: skip
    return CampaignWebhook(id=new_event_id(), type="campaign.finished", created_at=utcnow(),
                           data=data)  # fmt: skip


async def _outbox(sessions: Sessions, url: str) -> tuple[int, int]:
    async with sessions() as s, s.begin():
        user = await users.create(s, email="hooks@example.com", password_hash="x")
        endpoint = await webhooks.create_endpoint(
            s, user_id=user.id, url=url, events=["campaign.finished"]
        )
        for n in range(PER_KEY):
            for key in KEYS:
                await webhook_outbox.enqueue(
                    s, user_id=user.id, event=_event(key, n), ordering_key=key
                )
    return user.id, endpoint.id


async def test_two_workers_deliver_each_event_once_in_order_per_task(pg_sessions: Sessions) -> None:
    tries = count()

    def answer(_request: Received) -> int:
        return 500 if next(tries) % 4 == 1 else 200  # every fourth try fails

    async with WebhookReceiver(answer) as receiver:
        await _outbox(pg_sessions, receiver.url)
        workers = [WebhookDeliveryService(pg_sessions, HOOKS, f"node-{i}") for i in (1, 2)]
        for worker in workers:
            await worker.start()
        try:
            total = len(KEYS) * PER_KEY
            await receiver.wait_for(lambda got: len(_ok(got)) == total, timeout=60)
        finally:
            for worker in workers:
                await worker.stop()
    delivered = _ok(receiver.received)
    assert len({r.event.id for r in delivered}) == len(delivered)  # no event twice
    order: dict[str, list[int]] = defaultdict(list)
    for r in delivered:
        key, n = r.event.data.name.split("#")  # type: ignore[union-attr]
        order[key].append(int(n))
    assert order == {key: list(range(PER_KEY)) for key in KEYS}
    assert all(w.sent > 0 for w in workers)  # both took part


async def test_a_lapsed_lease_of_a_dead_worker_is_taken_over(pg_sessions: Sessions) -> None:
    async with WebhookReceiver() as receiver:
        await _outbox(pg_sessions, receiver.url)
        async with pg_sessions() as s, s.begin():  # a worker claims, then dies mid-POST
            (job,) = await webhook_deliveries.claim_due(
                s, now=utcnow(), node_id="dead", lease=timedelta(minutes=5), limit=1
            )
        alive = WebhookDeliveryService(pg_sessions, HOOKS, "alive")
        async with pg_sessions() as s, s.begin():
            claimed = await webhook_deliveries.claim_due(
                s, now=utcnow(), node_id="alive", lease=alive.lease, limit=100
            )
            # Not the dead worker's delivery (its lease holds), nor what waits behind it on
            # its task: the first in line of each other task only.
            assert {j.delivery_id for j in claimed} == {job.delivery_id + 1, job.delivery_id + 2}
            await s.execute(  # give those back, and let the dead worker's lease lapse
                update(WebhookDelivery)
                .values(leased_by=None, lease_expires_at=None)
                .where(WebhookDelivery.leased_by == "alive")
            )
            await s.execute(
                update(WebhookDelivery)
                .values(lease_expires_at=utcnow() - timedelta(seconds=1))
                .where(WebhookDelivery.leased_by == "dead")
            )
        await alive.start()
        try:
            total = len(KEYS) * PER_KEY
            await receiver.wait_for(lambda got: len(got) == total, timeout=60)
        finally:
            await alive.stop()
    assert job.event_id in {r.event.id for r in receiver.received}


def test_backoff_doubles_is_capped_and_jittered() -> None:
    rng = random.Random(3)
    waits = [backoff(n, 10.0, 3600.0, rng) for n in range(1, 12)]
    for n, wait in enumerate(waits, start=1):
        full = min(3600.0, 10.0 * 2 ** (n - 1))
        assert full / 2 <= wait <= full
    assert len({round(w / min(3600.0, 10.0 * 2**i), 3) for i, w in enumerate(waits)}) > 5


def _ok(received: list[Received]) -> list[Received]:
    return [r for r in received if r.status == 200]
