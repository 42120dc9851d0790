"""The delivery worker against local receivers (SQLite): redirects are not followed, a
target that became private is refused at delivery (after resolving its name), and a
delivery is given up once its retry window has passed."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from config.settings import WebhookSettings
from database.repositories import campaigns, users, webhook_outbox, webhooks
from database.types import utcnow
from task_manager.webhook_delivery import WebhookDeliveryService
from tests.support.webhook_receiver import WebhookReceiver
from tests.task_manager.conftest import Sessions

FAST = dict(retry_base=0.05, retry_max=0.1, poll=0.05)


async def _one_event(sessions: Sessions, url: str) -> tuple[int, int]:
    """An endpoint made directly (no creation check), and one campaign.finished for it."""
    async with sessions() as s, s.begin():
        user = await users.create(s, email="w@example.com", password_hash="x")
        endpoint = await webhooks.create_endpoint(
            s, user_id=user.id, url=url, events=["campaign.finished"]
        )
        campaign = await campaigns.create(s, user_id=user.id, name="c")
        await webhook_outbox.campaign_finished(s, campaign)
    return user.id, endpoint.id


async def _log(sessions: Sessions, user_id: int, endpoint_id: int) -> list[webhooks.LoggedDelivery]:
    async with sessions() as s:
        return await webhooks.deliveries(s, user_id=user_id, endpoint_id=endpoint_id)


async def _run(service: WebhookDeliveryService, seconds: float) -> None:
    await service.start()
    try:
        await asyncio.sleep(seconds)
    finally:
        await service.stop()


async def test_a_redirect_is_a_failure_and_is_not_followed(sessions: Sessions) -> None:
    async with WebhookReceiver() as elsewhere:
        moved = f"Location: {elsewhere.url}\r\n"
        async with WebhookReceiver(lambda _r: 302, headers=moved) as receiver:
            user_id, endpoint_id = await _one_event(sessions, receiver.url)
            settings = WebhookSettings(allow_private_targets=True, **FAST)
            service = WebhookDeliveryService(sessions, settings, "n1")
            await service.start()
            try:
                await receiver.wait_for(lambda got: len(got) >= 2, timeout=10)
            finally:
                await service.stop()
    assert elsewhere.received == []
    (logged,) = await _log(sessions, user_id, endpoint_id)
    assert logged.delivery.status == "pending"  # tried again later, never redirected
    assert {a.status_code for a in logged.attempts} == {302}


async def test_a_private_target_is_refused_at_delivery_after_resolving(sessions: Sessions) -> None:
    async with WebhookReceiver() as receiver:
        # saved while the operator allowed it, or a name that later resolved to loopback
        url = receiver.url.replace("127.0.0.1", "localhost")
        user_id, endpoint_id = await _one_event(sessions, url)
        strict = WebhookSettings(allow_private_targets=False, **FAST)
        await _run(WebhookDeliveryService(sessions, strict, "n1"), 0.5)
    assert receiver.received == []
    (logged,) = await _log(sessions, user_id, endpoint_id)
    assert logged.delivery.status == "failed"  # given up at once: retrying cannot help
    (attempt,) = logged.attempts
    assert attempt.status_code is None
    assert attempt.error is not None
    assert attempt.error.startswith("refused: the host resolves to a loopback address")


async def test_a_delivery_is_given_up_when_its_window_has_passed(sessions: Sessions) -> None:
    async with WebhookReceiver(lambda _r: 503) as receiver:
        user_id, endpoint_id = await _one_event(sessions, receiver.url)
        short = WebhookSettings(allow_private_targets=True, give_up_after=0.3, **FAST)
        service = WebhookDeliveryService(sessions, short, "n1")
        await _run(service, 1.5)
        tries = len(receiver.received)
        await asyncio.sleep(0.3)
        assert len(receiver.received) == tries  # nothing after giving up
    (logged,) = await _log(sessions, user_id, endpoint_id)
    assert logged.delivery.status == "failed"
    assert tries >= 2
    assert [a.status_code for a in logged.attempts] == [503] * tries
    assert logged.delivery.finished_at is not None
    assert logged.delivery.finished_at - logged.delivery.created_at < timedelta(seconds=1)
    assert utcnow() - logged.delivery.created_at < timedelta(minutes=1)


async def test_a_name_that_does_not_resolve_is_tried_again(sessions: Sessions) -> None:
    user_id, endpoint_id = await _one_event(sessions, "http://receiver.invalid/hook")
    settings = WebhookSettings(allow_private_targets=False, **FAST)
    service = WebhookDeliveryService(sessions, settings, "n1")
    await service.start()
    try:
        async with asyncio.timeout(20):
            while True:
                (logged,) = await _log(sessions, user_id, endpoint_id)
                if len(logged.attempts) >= 2:
                    break
                await asyncio.sleep(0.05)
    finally:
        await service.stop()
    assert logged.delivery.status == "pending"
    assert {a.error for a in logged.attempts} == {"the host name does not resolve"}
