"""Campaigns made by scripts through /api/v1 with an API token: from a CSV (100 rows; one
bad row stores nothing, or with partial=true the 99 others), from a JSON plan; the
Idempotency-Key returns the first answer and creates nothing new; a token without the
`calls` scope creates nothing. On SQLite and PostgreSQL (issue 15)."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid

import httpx
from sqlalchemy import update

from call_processor.finished_call import FinishedCall
from database.models import IdempotencyKey
from database.repositories import campaigns, dnd, tasks, users
from database.types import utcnow
from task_manager.call_launcher import PlannedCall
from task_manager.scheduler import TaskSchedulerService
from tests.support.platform_settings import ALWAYS
from tests.task_manager.helpers import FakeLauncher
from tests.web.api_v1_support import api, counts, token_client
from tests.web.conftest import Web

__all__ = ["api"]  # the fixture
CSV_URL = "/api/v1/campaigns/csv"
BAD_ROW = 57  # the spreadsheet row (the header is row 1) that holds a bad number
PLAN = {
    "name": "Plumbers",
    "goal": "a quote for a new boiler",
    "voicemail_policy": "notify_person",
    "window": {"start": "10:00", "end": "16:00", "days": "mon,wed"},
    "tasks": [
        {"phone_number": "(415) 555-0101", "contact_name": "Ace Plumbing",
         "objective": "ask for a boiler quote", "context": "a flat, 2 bathrooms",
         "max_attempts": 4, "window": {"start": "11:00"}},
        {"phone_number": "+14155550102", "objective": "ask for a boiler quote"},
    ],
}  # fmt: skip


def _contacts(rows: int, bad_row: int | None = None) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Phone Number", "contact_name", "objective", "context", "max_attempts",
                     "window_start", "window_end"])  # fmt: skip
    for n in range(rows):
        number = "555-CALL-ME-MAYBE" if n + 2 == bad_row else f"+1415555{n:04d}"
        writer.writerow([number, f"Clinic {n}", "book a cleaning next week",
                         "the patient is Ann", "2", "09:00", "17:00"])  # fmt: skip
    return out.getvalue().encode()


async def _upload(
    client: httpx.AsyncClient, data: bytes, key: str | None = None, **form: str
) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    fields = {"name": "Dentists", "voicemail_policy": "leave_message", **form}
    files = {"file": ("contacts.csv", data, "text/csv")}
    return await client.post(CSV_URL, data=fields, files=files, headers=headers)


async def _script(api: Web, email: str, scopes: list[str]) -> httpx.AsyncClient:
    return await token_client(api, await api.user(email), scopes)


async def _user_id(api: Web, email: str) -> int:
    async with api.sessions() as s:
        user = await users.get_by_email(s, email)
    assert user is not None
    return user.id


async def test_a_100_row_csv_makes_a_campaign_once_per_idempotency_key(api: Web) -> None:
    script = await _script(api, "csv@example.com", ["read", "calls"])
    data, key = _contacts(100), str(uuid.uuid4())
    first = await _upload(script, data, key)
    assert first.status_code == 201, first.text
    body = first.json()
    assert (body["rows_received"], body["rows_stored"], body["problems"]) == (100, 100, [])
    assert [t["row"] for t in body["tasks"]] == list(range(2, 102))
    assert await counts(api) == (1, 100)

    user_id = await _user_id(api, "csv@example.com")
    async with api.sessions() as s:
        campaign = await campaigns.get(s, user_id=user_id, campaign_id=body["campaign_id"])
        made = await tasks.list_for_user(s, user_id=user_id, limit=None)
    assert campaign is not None
    assert (campaign.name, campaign.voicemail_policy) == ("Dentists", "leave_message")
    assert [t.id for t in made] == body["task_ids"]
    fourth = made[3]
    assert (fourth.phone_number, fourth.contact_name, fourth.context, fourth.max_attempts) == (
        "+14155550003", "Clinic 3", "the patient is Ann", 2,
    )  # fmt: skip
    assert fourth.inter_call_context["calling_window"]["start"] == "09:00"

    again = await _upload(script, data, key)  # a new multipart boundary, the same request
    assert again.status_code == 201
    assert again.json() == body
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await counts(api) == (1, 100)

    other = await _upload(script, _contacts(3), key)
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert await counts(api) == (1, 100)


async def test_one_bad_row_stores_nothing_unless_partial_then_the_99_others(api: Web) -> None:
    script = await _script(api, "bad@example.com", ["calls"])
    data = _contacts(100, bad_row=BAD_ROW)
    refused = await _upload(script, data)
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "invalid_rows"
    assert error["message"].startswith("1 of 100 rows has problems; nothing was stored")
    (problem,) = error["details"]
    assert (problem["row"], problem["column"]) == (BAD_ROW, "phone_number")
    assert problem["message"].startswith("is not a valid phone number for its country")
    assert await counts(api) == (0, 0)

    partial = await _upload(script, data, partial="true")
    assert partial.status_code == 201, partial.text
    body = partial.json()
    assert (body["rows_received"], body["rows_stored"]) == (100, 99)
    assert [p["row"] for p in body["problems"]] == [BAD_ROW]
    assert BAD_ROW not in [t["row"] for t in body["tasks"]]
    assert await counts(api) == (1, 99)


async def test_csv_problems_are_said_in_plain_words_per_row(api: Web) -> None:
    script = await _script(api, "words@example.com", ["calls"])
    rows = (
        b"phone_number,objective,max_attempts,window_start,time_zone\n"
        b"+14155550101,book,three,,\n"
        b"+14155550102,,2,,\n"
        b"+14155550103,book,2,25:00,\n"
        b"+14155550104,book,2,,Mars/Olympus\n"
        b"+14155550105,book,2,,,extra\n"
    )
    response = await _upload(script, rows)
    assert response.status_code == 422
    found = {(p["row"], p["column"]): p["message"] for p in response.json()["error"]["details"]}
    assert found == {
        (
            2,
            "max_attempts",
        ): "Input should be a valid integer, unable to parse string as an integer",
        (3, "objective"): "is required",
        (4, "window_start"): "Input should be in a valid time format, hour value is outside "
        "expected range of 0-23",
        (5, "time_zone"): "unknown time zone",
        (6, None): "has 6 cells but the header names 5",
    }
    whole_file = [
        (b"name,phone\nAnn,+14155550101\n", "unknown column(s): name, phone"),
        (b"phone_number\n+14155550101\n", "missing column(s): objective"),
        (b"\xff\xfe\x00p", "the file is not UTF-8 text"),
        (b"phone_number,objective\n", "the file has a header but no contacts"),
    ]
    for data, words in whole_file:
        refused = await _upload(script, data)
        assert refused.status_code == 422
        assert refused.json()["error"]["code"] == "invalid_csv"
        assert refused.json()["error"]["message"].startswith(words)
    one_objective = await _upload(script, b"phone_number\n+14155550101\n", objective="book")
    assert one_objective.status_code == 201, one_objective.text
    bad_policy = await _upload(script, _contacts(2), voicemail_policy="shout")
    assert bad_policy.status_code == 422
    assert bad_policy.json()["error"]["details"][0]["field"] == "voicemail_policy"
    assert await counts(api) == (1, 1)


async def test_a_100_row_csv_fits_the_body_limit_and_a_huge_one_is_refused(api: Web) -> None:
    script = await _script(api, "big@example.com", ["calls"])
    data = _contacts(100)
    assert len(data) < api.deps.max_body_bytes // 10
    huge = data + b"+14155550999,x,y\n" * (api.deps.max_body_bytes // 17 + 1)
    refused = await _upload(script, huge)
    assert refused.status_code == 413
    assert refused.json()["error"]["code"] == "too_large"
    assert "over the limit of 1048576 bytes" in refused.json()["error"]["message"]
    assert await counts(api) == (0, 0)


async def test_a_json_plan_makes_a_campaign_like_the_chat_and_problems_name_task_and_field(
    api: Web,
) -> None:
    script = await _script(api, "json@example.com", ["read", "calls"])
    made = await script.post("/api/v1/campaigns", json=PLAN)
    assert made.status_code == 201, made.text
    campaign_id, task_ids = made.json()["campaign_id"], made.json()["task_ids"]
    shown = (await script.get(f"/api/v1/campaigns/{campaign_id}")).json()
    assert (shown["name"], shown["voicemail_policy"], shown["status"]) == (
        "Plumbers", "notify_person", "active",
    )  # fmt: skip
    assert shown["window"] == {"start": "10:00:00", "end": "16:00:00", "days": "mon,wed"}
    assert shown["progress"] == {"total": 2, "done": 0, "by_status": {"pending": 2}}
    first = (await script.get(f"/api/v1/tasks/{task_ids[0]}")).json()
    assert (first["phone_number"], first["max_attempts"], first["context"]) == (
        "+14155550101", 4, "a flat, 2 bathrooms",
    )  # fmt: skip
    assert first["calls"] == []
    assert [(e["from_status"], e["to_status"], e["actor"]) for e in first["events"]] == [
        (None, "pending", "orchestrator"),
    ]  # fmt: skip

    bad = {**PLAN, "tasks": [{"phone_number": "12", "objective": "x"}, {"phone_number": "+1"}]}
    refused = await script.post("/api/v1/campaigns", json=bad)
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "invalid_plan"
    assert {(d["task"], d["field"]) for d in error["details"]} == {(1, "objective")}
    only_number = {**PLAN, "tasks": [PLAN["tasks"][1], {"phone_number": "12", "objective": "x"}]}
    refused = await script.post("/api/v1/campaigns", json=only_number)
    (detail,) = refused.json()["error"]["details"]
    assert (detail["task"], detail["field"]) == (1, "phone_number")
    assert "not a valid phone number" in detail["message"]
    assert await counts(api) == (1, 2)


async def test_idempotency_key_one_campaign_for_copies_sent_at_once_and_again_after_a_day(
    api: Web,
) -> None:
    script = await _script(api, "twice@example.com", ["calls"])
    key = {"Idempotency-Key": "order-42"}
    copies = await asyncio.gather(
        *(script.post("/api/v1/campaigns", json=PLAN, headers=key) for _ in range(4))
    )
    statuses = sorted(r.status_code for r in copies)
    assert set(statuses) <= {201, 409}, [r.text for r in copies]
    assert statuses[0] == 201
    assert len({r.text for r in copies if r.status_code == 201}) == 1
    for busy in (r for r in copies if r.status_code == 409):
        assert busy.json()["error"]["code"] == "idempotency_key_in_use"
    assert await counts(api) == (1, 2)

    async with api.sessions() as s, s.begin():  # a day and a bit later
        await s.execute(update(IdempotencyKey).values(created_at=utcnow().replace(year=2020)))
    later = await script.post("/api/v1/campaigns", json=PLAN, headers=key)
    assert later.status_code == 201
    assert later.headers.get("Idempotent-Replayed") is None
    assert await counts(api) == (2, 4)
    bad_key = await script.post("/api/v1/campaigns", json=PLAN, headers={"Idempotency-Key": "a b"})
    assert bad_key.status_code == 400
    assert await counts(api) == (2, 4)


async def test_another_person_reusing_a_key_gets_their_own_campaign(api: Web) -> None:
    one = await _script(api, "one@example.com", ["read", "calls"])
    two = await _script(api, "two@example.com", ["read", "calls"])
    key = {"Idempotency-Key": "same-words"}
    first = await one.post("/api/v1/campaigns", json=PLAN, headers=key)
    second = await two.post("/api/v1/campaigns", json=PLAN, headers=key)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["campaign_id"] != second.json()["campaign_id"]
    mine = (await two.get(f"/api/v1/campaigns/{second.json()['campaign_id']}")).status_code
    theirs = (await two.get(f"/api/v1/campaigns/{first.json()['campaign_id']}")).status_code
    assert (mine, theirs) == (200, 404)


async def test_a_token_without_the_calls_scope_or_a_session_without_csrf_creates_nothing(
    api: Web,
) -> None:
    reader = await _script(api, "reader@example.com", ["read"])
    refused = [
        await reader.post("/api/v1/campaigns", json=PLAN),
        await _upload(reader, _contacts(3)),
    ]
    for response in refused:
        assert response.status_code == 403
        assert response.json()["error"] == {
            "code": "forbidden", "message": "this API token lacks the calls scope", "details": [],
        }  # fmt: skip
    assert await counts(api) == (0, 0)
    anonymous = await api.client().post("/api/v1/campaigns", json=PLAN)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "unauthorized"
    browser = await api.user("browser@example.com")
    del browser.headers["X-CSRF-Token"]  # a session must prove the page sent it
    forged = await browser.post("/api/v1/campaigns", json=PLAN)
    assert (forged.status_code, forged.json()["error"]["message"]) == (
        403, "missing or wrong CSRF token",
    )  # fmt: skip
    assert await counts(api) == (0, 0)


async def _nothing(_call: PlannedCall, _finished: FinishedCall) -> None:
    return None


async def test_do_not_call_lists_hold_for_api_campaigns_as_for_chat_ones(api: Web) -> None:
    """Both lists are checked when a task is claimed (README), whichever way it was made."""
    owner = await api.user("dnd@example.com")
    assert (await owner.post("/api/dnd", json={"phone_number": "+14155550001"})).is_success
    async with api.sessions() as s, s.begin():
        await dnd.add(s, user_id=None, phone_number="+14155550002", reason="operator")
    script = await token_client(api, owner, ["read", "calls"])
    numbers = b"phone_number,objective\n+14155550000,a\n+14155550001,b\n+14155550002,c\n"
    made = await _upload(script, numbers)
    assert made.status_code == 201, made.text
    launcher = FakeLauncher(slots=5)
    scheduler = TaskSchedulerService(
        sessions=api.sessions, launcher=launcher, on_call_done=_nothing, calling=ALWAYS,
        node_id="api-test",
    )  # fmt: skip
    launched = await scheduler.tick()
    first, *on_lists = made.json()["task_ids"]
    assert [c.task_id for c in launched] == [first]
    for task_id in on_lists:
        shown = (await script.get(f"/api/v1/tasks/{task_id}")).json()
        assert shown["status"] == "cancelled_dnd", shown
