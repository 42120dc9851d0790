"""Webhook endpoints on the web: each person's own (another gets 404 for every route),
private targets refused unless the operator allows them, and redelivery from the
delivery log, sent by the real delivery worker to a local receiver."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from common.webhook_signature import HEADER, verify
from config.settings import WebhookSettings
from database.repositories import campaigns, task_events, tasks, users
from database.states import TaskActor, TaskStatus
from task_manager.webhook_delivery import WebhookDeliveryService
from tests.support.webhook_receiver import WebhookReceiver
from tests.web.conftest import Web, csrf_from

HOOK = "http://127.0.0.1:9/hooks"  # loopback: allowed only where the operator said so


@pytest.fixture
def lan_web(make_web: Callable[..., Web]) -> Web:
    """An operator who set WEBHOOK_ALLOW_PRIVATE_TARGETS (receivers on their own network)."""
    return make_web(webhook_allow_private=True)


@pytest.fixture
async def worker(lan_web: Web) -> AsyncIterator[WebhookDeliveryService]:
    settings = WebhookSettings(allow_private_targets=True, retry_base=0.05, poll=0.05)
    service = WebhookDeliveryService(lan_web.sessions, settings, "web-test")
    await service.start()
    yield service
    await service.stop()


async def test_endpoints_are_their_owners_alone(lan_web: Web) -> None:
    a, b = await lan_web.user("a@example.com"), await lan_web.user("b@example.com")
    made = await a.post(
        "/api/webhooks", json={"url": HOOK, "events": ["task.failed", "call.ended"],
                               "description": "crm"},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    endpoint = made.json()
    assert endpoint["secret"].startswith("whsec_")
    assert endpoint["events"] == ["call.ended", "task.failed"]  # the documented order
    eid = endpoint["id"]
    listed = (await a.get("/api/webhooks")).json()
    assert [e["id"] for e in listed] == [eid]
    assert "secret" not in listed[0]  # shown once, at creation
    assert (await b.get("/api/webhooks")).json() == []
    others = [("GET", f"/api/webhooks/{eid}"), ("PATCH", f"/api/webhooks/{eid}"),
              ("DELETE", f"/api/webhooks/{eid}"), ("GET", f"/api/webhooks/{eid}/deliveries"),
              ("GET", f"/webhooks/{eid}")]  # fmt: skip
    for method, path in others:
        response = await b.request(
            method, path, json={"enabled": False} if method == "PATCH" else None
        )
        assert response.status_code == 404, (method, path)
    token = csrf_from((await b.get("/webhooks")).text)
    for action in ("delete", "toggle", "deliveries/1/redeliver"):
        response = await b.post(f"/webhooks/{eid}/{action}", data={"csrf_token": token})
        assert response.status_code == 404, action
    changed = await a.patch(f"/api/webhooks/{eid}", json={"events": ["task.succeeded"]})
    assert changed.json()["events"] == ["task.succeeded"]
    refused = await a.patch(f"/api/webhooks/{eid}", json={"events": ["task.exploded"]})
    assert refused.status_code == 422
    assert "task.exploded" in refused.text
    assert (await a.get(f"/api/webhooks/{eid}")).json()["enabled"] is True
    assert (await a.delete(f"/api/webhooks/{eid}")).status_code == 204
    assert (await a.get(f"/api/webhooks/{eid}")).status_code == 404


@pytest.mark.parametrize(
    ("url", "why"),
    [("http://127.0.0.1:8080/x", "loopback"), ("http://localhost/x", "loopback"),
     ("http://10.0.0.7/x", "private"), ("http://192.168.1.20/x", "private"),
     ("http://169.254.169.254/latest/meta-data", "link-local"), ("http://[::1]:80/", "loopback"),
     ("http://[::ffff:127.0.0.1]/", "loopback"), ("ftp://example.com/", "http"),
     ("https://user:pw@example.com/", "password")],
)  # fmt: skip
async def test_private_targets_are_refused_unless_allowed(
    make_web: Callable[..., Web], url: str, why: str
) -> None:
    web = make_web()  # the default: WEBHOOK_ALLOW_PRIVATE_TARGETS off
    a = await web.user("a@example.com")
    refused = await a.post("/api/webhooks", json={"url": url, "events": ["call.ended"]})
    assert refused.status_code == 422
    assert why in refused.json()["detail"]
    page = await a.post(
        "/webhooks",
        data={"csrf_token": csrf_from((await a.get("/webhooks")).text), "url": url,
              "events": "call.ended"},
    )  # fmt: skip
    assert page.status_code == 422
    assert why in page.text
    assert (await a.get("/api/webhooks")).json() == []


async def test_a_public_address_is_accepted_and_the_operator_may_allow_private_ones(
    make_web: Callable[..., Web],
) -> None:
    strict = await make_web().user("a@example.com")
    public = await strict.post(
        "/api/webhooks", json={"url": "https://93.184.216.34/hook", "events": ["call.ended"]}
    )
    assert public.status_code == 201, public.text
    lan = make_web(webhook_allow_private=True)
    client = await lan.user("b@example.com")
    form = {"csrf_token": csrf_from((await client.get("/webhooks")).text), "url": HOOK,
            "events": ["call.started", "task.needs_user"]}  # fmt: skip
    page = await client.post("/webhooks", data=form)
    assert page.status_code == 201
    (endpoint,) = (await client.get("/api/webhooks")).json()
    assert endpoint["events"] == ["call.started", "task.needs_user"]
    secret_shown = page.text.split('id="webhook-secret">')[1].split("<")[0]
    assert secret_shown.startswith("whsec_")
    assert secret_shown not in (await client.get("/webhooks")).text  # never again


async def _succeed_a_task(web: Web, email: str) -> int:
    async with web.sessions() as s, s.begin():
        user = await users.get_by_email(s, email)
        assert user is not None
        campaign = await campaigns.create(s, user_id=user.id, name="dentists")
        task = await tasks.create(
            s, user_id=user.id, campaign_id=campaign.id,
            task=tasks.NewTask(phone_number="+14155550101", objective="book"),
        )  # fmt: skip
        await task_events.move(s, task, TaskStatus.SUCCEEDED, actor=TaskActor.PERSON)
        return task.id


async def _settled_log(client: httpx.AsyncClient, endpoint_id: int, n: int) -> list[Any]:
    """The delivery log once its `n` deliveries are no longer pending (the worker records
    an attempt just after the receiver has answered)."""
    async with asyncio.timeout(10):
        while True:
            log = (await client.get(f"/api/webhooks/{endpoint_id}/deliveries")).json()
            if len(log) == n and all(d["status"] != "pending" for d in log):
                return list(log)
            await asyncio.sleep(0.05)


async def test_redeliver_sends_the_same_event_again_and_the_log_shows_both(
    lan_web: Web, worker: WebhookDeliveryService
) -> None:
    a, b = await lan_web.user("a@example.com"), await lan_web.user("b@example.com")
    async with WebhookReceiver() as receiver:
        made = (await a.post(
            "/api/webhooks", json={"url": receiver.url, "events": ["task.succeeded"]}
        )).json()  # fmt: skip
        task_id = await _succeed_a_task(lan_web, "a@example.com")
        await receiver.wait_for(lambda got: len(got) == 1, timeout=10)
        (first,) = await _settled_log(a, made["id"], 1)
        assert (first["status"], first["event_type"]) == ("delivered", "task.succeeded")
        assert (
            await b.post(f"/api/webhooks/deliveries/{first['id']}/redeliver")
        ).status_code == 404
        again = await a.post(f"/api/webhooks/deliveries/{first['id']}/redeliver")
        assert again.status_code == 202
        await receiver.wait_for(lambda got: len(got) == 2, timeout=10)
        page = await a.get(f"/webhooks/{made['id']}")
        token = csrf_from(page.text)
        form = await a.post(
            f"/webhooks/{made['id']}/deliveries/{first['id']}/redeliver", data={"csrf_token": token}
        )
        assert form.status_code == 303
        await receiver.wait_for(lambda got: len(got) == 3, timeout=10)
    bodies = {r.body for r in receiver.received}
    assert len(bodies) == 1  # the same event, byte for byte
    for request in receiver.received:
        verify(made["secret"], request.body, request.headers[HEADER.lower()])
        assert request.event.id == first["event_id"]
        assert request.event.data.task_id == task_id  # type: ignore[union-attr]
        assert request.path == "/hooks/opendeep?source=test"
    log = await _settled_log(a, made["id"], 3)
    assert [d["status"] for d in log] == ["delivered"] * 3
    assert [[x["status_code"] for x in d["log"]] for d in log] == [[200]] * 3
    page = (await a.get(f"/webhooks/{made['id']}")).text
    assert page.count('class="status-code">200<') == 3
    assert "Redeliver" in page


async def test_the_delivery_log_is_empty_without_events(lan_web: Web) -> None:
    a = await lan_web.user("a@example.com")
    made = (await a.post("/api/webhooks", json={"url": HOOK, "events": ["call.ended"]})).json()
    assert (await a.get(f"/api/webhooks/{made['id']}/deliveries")).json() == []
    assert "Nothing sent yet" in (await a.get(f"/webhooks/{made['id']}")).text
