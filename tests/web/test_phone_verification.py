"""Verifying the person's own number through the web app, with the real planning service:
by text against the fake Twilio (right code, five wrong ones lock it until a new code, an
expired code, a changed number, the resend limits, two users), and by a call whose agent
is told the code, where the code never shows on any page, API answer or live event."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
import websockets
from sqlalchemy import update

from common.events import TurnAdded
from config.settings import CallingSettings
from database.models import PhoneCode
from database.repositories import calls, messages, tasks, turns, users
from database.states import Speaker
from database.types import utcnow
from task_manager.notifier import Notifier
from task_manager.orchestrator import OrchestratorService
from task_manager.phone_code_delivery import PhoneCodeDelivery
from task_manager.senders import SmsSender
from task_manager.ui_assistant_svc import UiAssistantService
from tests.support.fake_twilio import FakeTwilio
from tests.task_manager.test_senders_and_notifier import sms_settings
from tests.web.conftest import Web, csrf_from, pending_questions
from web_interface.private_calls import HIDDEN
from web_interface.security import SESSION_COOKIE
from web_interface.web_server import WebServer

A_PHONE, B_PHONE = "+14155550123", "+14155550124"
CODE = re.compile(r"code is (\d{6})\.")


def _service(web: Web, notifier: Notifier | None) -> UiAssistantService:
    orchestrator = OrchestratorService(web.sessions, CallingSettings())
    codes = PhoneCodeDelivery(web.sessions, notifier)
    return UiAssistantService(web.sessions, None, "m", orchestrator, phone_codes=codes)


@pytest.fixture
async def twilio(web: Web) -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio() as fake:
        sender = SmsSender(sms_settings(fake))
        web.deps.assistant = _service(web, Notifier(web.sessions, sms=sender))
        yield fake
        await sender.aclose()


async def _person(web: Web, email: str, phone: str) -> httpx.AsyncClient:
    client = await web.user(email)
    assert (await client.put("/api/profile", json={"phone_number": phone})).status_code == 200
    return client


def _last_code(twilio: FakeTwilio) -> str:
    match = CODE.search(twilio.sent[-1]["Body"])
    assert match, twilio.sent[-1]
    return match.group(1)


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


async def _age_code(web: Web, email: str, **columns: object) -> None:
    """Time passes for the person's outstanding code (set its columns in the past)."""
    async with web.sessions() as s, s.begin():
        user = await users.get_by_email(s, email)
        assert user is not None
        await s.execute(update(PhoneCode).where(PhoneCode.user_id == user.id).values(**columns))


async def test_a_texted_code_verifies_five_wrong_ones_lock_it_until_a_new_one(
    web: Web, twilio: FakeTwilio
) -> None:
    a = await _person(web, "a@example.com", A_PHONE)
    sent = await a.post("/api/profile/phone/code")
    assert sent.json() == {"channel": "sms", "valid_minutes": 10, "campaign_id": None}
    assert twilio.sent[-1]["To"] == A_PHONE
    code = _last_code(twilio)
    async with web.sessions() as s:
        user = await users.get_by_email(s, "a@example.com")
        assert user is not None
        stored = await s.get(PhoneCode, user.id)
        (record,) = await messages.list_for_user(s, user_id=user.id)
    assert stored is not None
    assert code not in stored.code_hash  # an HMAC, not the code
    assert len(stored.code_hash) == 64
    assert code not in record.body  # the notifications page shows this text

    answers = [await a.post("/api/profile/phone/verify", json={"code": _wrong(code)})
               for _ in range(5)]  # fmt: skip
    assert [r.status_code for r in answers] == [400] * 5
    assert [r.json()["detail"] for r in answers] == [
        "wrong code; 4 tries left", "wrong code; 3 tries left", "wrong code; 2 tries left",
        "wrong code; 1 try left", "wrong code; that was the last try, ask for a new code",
    ]  # fmt: skip
    locked = await a.post("/api/profile/phone/verify", json={"code": code})  # even the right one
    assert (locked.status_code, locked.json()["detail"]) == (
        429, "too many wrong codes; ask for a new one",
    )  # fmt: skip
    assert (await a.get("/api/profile")).json()["phone_verified"] is False

    too_soon = await a.post("/api/profile/phone/code")
    assert too_soon.status_code == 429
    assert int(too_soon.headers["retry-after"]) >= 1
    await _age_code(web, "a@example.com", created_at=utcnow() - timedelta(seconds=61))
    assert (await a.post("/api/profile/phone/code")).status_code == 200
    fresh = _last_code(twilio)
    verified = await a.post("/api/profile/phone/verify", json={"code": fresh})
    assert verified.status_code == 200, verified.text
    assert (verified.json()["phone_number"], verified.json()["phone_verified"]) == (A_PHONE, True)
    spent = await a.post("/api/profile/phone/verify", json={"code": fresh})
    assert spent.status_code == 409  # used up: no code is outstanding
    again = await a.post("/api/profile/phone/code")
    assert (again.status_code, again.json()["detail"]) == (
        409, "your phone number is already verified",
    )  # fmt: skip


async def test_an_expired_code_fails_and_a_changed_number_is_no_longer_verified(
    web: Web, twilio: FakeTwilio
) -> None:
    a = await _person(web, "a@example.com", A_PHONE)
    await a.post("/api/profile/phone/code")
    code = _last_code(twilio)
    await _age_code(web, "a@example.com", expires_at=utcnow() - timedelta(seconds=1))
    expired = await a.post("/api/profile/phone/verify", json={"code": code})
    assert (expired.status_code, expired.json()["detail"]) == (
        410, "this code has expired; ask for a new one",
    )  # fmt: skip

    await _age_code(web, "a@example.com", created_at=utcnow() - timedelta(minutes=2))
    await a.post("/api/profile/phone/code")
    assert (await a.post("/api/profile/phone/verify", json={"code": _last_code(twilio)})).json()[
        "phone_verified"
    ]
    moved = await a.put("/api/profile", json={"phone_number": B_PHONE})
    assert moved.json()["phone_verified"] is False
    back = await a.put("/api/profile", json={"phone_number": A_PHONE})
    assert back.json()["phone_verified"] is False  # a number is verified by a code only

    await a.put("/api/profile", json={"phone_number": B_PHONE})
    await _age_code(web, "a@example.com", created_at=utcnow() - timedelta(minutes=2))
    await a.post("/api/profile/phone/code")  # to B_PHONE
    old_number_code = _last_code(twilio)
    await a.put("/api/profile", json={"phone_number": A_PHONE})  # changed while it travels
    stale = await a.post("/api/profile/phone/verify", json={"code": old_number_code})
    assert (stale.status_code, stale.json()["detail"]) == (409, "ask for a code first")
    assert (await a.get("/api/profile")).json()["phone_verified"] is False

    await _age_code(web, "a@example.com", created_at=utcnow() - timedelta(minutes=2),
                    sent_in_window=5)  # fmt: skip
    capped = await a.post("/api/profile/phone/code")
    assert (capped.status_code, capped.json()["detail"]) == (
        429, "5 codes were sent today; try again tomorrow",
    )  # fmt: skip
    assert [m["To"] for m in twilio.sent] == [A_PHONE, A_PHONE, B_PHONE]


async def test_each_person_verifies_only_their_own_number_and_only_when_logged_in(
    web: Web, twilio: FakeTwilio
) -> None:
    a = await _person(web, "a@example.com", A_PHONE)
    b = await _person(web, "b@example.com", B_PHONE)
    await a.post("/api/profile/phone/code")
    a_code = _last_code(twilio)
    assert (await b.post("/api/profile/phone/verify", json={"code": a_code})).status_code == 409
    await b.post("/api/profile/phone/code")
    assert twilio.sent[-1]["To"] == B_PHONE
    b_code = _last_code(twilio)
    guess = a_code if a_code != b_code else _wrong(b_code)  # one in a million they match
    assert (await b.post("/api/profile/phone/verify", json={"code": guess})).status_code == 400
    assert (await a.post("/api/profile/phone/verify", json={"code": a_code})).status_code == 200
    assert (await a.get("/api/profile")).json()["phone_verified"] is True
    assert (await b.get("/api/profile")).json()["phone_verified"] is False

    made = await b.post("/api/tokens", json={"name": "all", "scopes": ["read", "calls", "account"]})
    script = web.client()
    script.headers["Authorization"] = f"Bearer {made.json()['token']}"
    assert (await script.post("/api/profile/phone/code")).status_code == 403
    assert (
        await script.post("/api/profile/phone/verify", json={"code": b_code})
    ).status_code == 403
    assert (await b.post("/api/profile/phone/verify", json={"code": "12345"})).status_code == 422


async def test_the_profile_page_says_what_to_do_and_its_forms_verify(
    web: Web, twilio: FakeTwilio
) -> None:
    a = await _person(web, "a@example.com", A_PHONE)
    b = await _person(web, "b@example.com", B_PHONE)
    page = (await a.get("/profile")).text
    assert f"{A_PHONE} is not verified." in page
    assert "the agent cannot hand a call to you" in page
    token = csrf_from(page)
    assert (await a.post("/profile/phone/code", data={"csrf_token": token})).status_code == 303
    sent = await a.get("/profile")  # post/redirect/get: the message rides to the page
    assert f"We texted a code to {A_PHONE}. It is valid for 10 minutes." in sent.text
    assert 'action="/profile/phone/verify"' in sent.text
    code = _last_code(twilio)
    b_token = csrf_from((await b.get("/profile")).text)
    theirs = await b.post("/profile/phone/verify", data={"csrf_token": b_token, "code": code})
    assert (theirs.status_code, "ask for a code first" in theirs.text) == (409, True)
    wrong = await a.post("/profile/phone/verify", data={"csrf_token": token, "code": _wrong(code)})
    assert (wrong.status_code, "wrong code; 4 tries left" in wrong.text) == (400, True)
    done = await a.post("/profile/phone/verify", data={"csrf_token": token, "code": code})
    assert done.status_code == 303
    assert "Your phone number is verified." in (await a.get("/profile")).text
    assert f"{A_PHONE} is verified." in (await a.get("/profile")).text
    assert f"{B_PHONE} is not verified." in (await b.get("/profile")).text
    assert (await a.post("/profile/phone/code", data={})).status_code == 403  # no CSRF


async def test_without_sms_a_call_reads_the_code_and_no_page_shows_it(web: Web) -> None:
    web.deps.assistant = _service(web, None)
    a = await _person(web, "a@example.com", A_PHONE)
    sent = (await a.post("/api/profile/phone/code")).json()
    assert (sent["channel"], sent["valid_minutes"]) == ("call", 10)
    async with web.sessions() as s:
        user = await users.get_by_email(s, "a@example.com")
        assert user is not None
        (task,) = await tasks.list_for_user(s, user_id=user.id, campaign_id=sent["campaign_id"])
    digits = re.search(r"digit by digit: ((?:\d ){5}\d)", task.context)
    assert digits, task.context
    code = digits.group(1).replace(" ", "")
    assert task.phone_number == A_PHONE
    shown = json.dumps((await a.get(f"/api/tasks/{task.id}")).json())
    shown += (await a.get(f"/campaigns/{sent['campaign_id']}")).text + (await a.get("/")).text
    assert code not in shown

    call_id = str(uuid.uuid4())  # the call as its handler and turn writer would store it
    async with web.sessions() as s, s.begin():
        await calls.create_dialing(
            s, user_id=user.id, call_id=call_id, phone_number=A_PHONE, task_id=task.id
        )
        await calls.update(s, user_id=user.id, call_id=call_id, summary=f"Read {code}.",
                           facts={"code": code})  # fmt: skip
        spoken = f"Your code is {' '.join(code)}. Once more: {' '.join(code)}."
        await turns.append(s, user_id=user.id, call_id=call_id, speaker=Speaker.AGENT, text=spoken)
    detail = (await a.get(f"/api/calls/{call_id}")).json()
    assert [t["text"] for t in detail["turns"]] == [HIDDEN]
    assert (detail["summary"], detail["facts"]) == (HIDDEN, {})
    page = (await a.get(f"/calls/{call_id}")).text
    assert code not in page
    assert " ".join(code) not in page
    assert HIDDEN in page
    live = await _live_turn(web, a, user.id, TurnAdded(
        call_id=call_id, seq=1, speaker="agent", text=spoken
    ))  # fmt: skip
    assert live["text"] == HIDDEN
    ordinary = await _ordinary_call(web, user.id)
    other = await _live_turn(web, a, user.id, TurnAdded(
        call_id=ordinary, seq=1, speaker="agent", text="Hello, dental office?"
    ))  # fmt: skip
    assert other["text"] == "Hello, dental office?"  # only the code's call is hidden
    verified = await a.post("/api/profile/phone/verify", json={"code": code})
    assert verified.json()["phone_verified"] is True


async def _ordinary_call(web: Web, user_id: int) -> str:
    call_id = str(uuid.uuid4())
    async with web.sessions() as s, s.begin():
        await calls.create_dialing(s, user_id=user_id, call_id=call_id, phone_number=B_PHONE)
    return call_id


async def _live_turn(
    web: Web, person: httpx.AsyncClient, user_id: int, event: TurnAdded
) -> dict[str, object]:
    """What an open page of this person gets over /ws/events for this event."""
    server = WebServer(web.app, "127.0.0.1", 0)
    await server.start()
    try:
        base = f"127.0.0.1:{server.port}"
        cookie = f"{SESSION_COOKIE}={person.cookies[SESSION_COOKIE]}"
        async with websockets.connect(
            f"ws://{base}/ws/events", additional_headers={"Cookie": cookie}, open_timeout=5
        ) as socket:
            await pending_questions(socket)
            for _ in range(50):  # the socket subscribes as it opens
                if await web.bus.publish_event(user_id, event):
                    break
                await asyncio.sleep(0.05)
            received: dict[str, object] = json.loads(await asyncio.wait_for(socket.recv(), 5))
            return received
    finally:
        await server.stop(timeout=5)
