"""Pages render the person's data, carry the live-question prompt, and label their controls."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from database.repositories import calls
from tests.web.conftest import Web, csrf_from
from tests.web.seed import seed_user_data
from web_interface.latency_chart import latency_svg


class _Controls(HTMLParser):
    """Collects form controls and which of them have a label."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, str | None]] = []
        self.label_for: set[str] = set()
        self.open_labels = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "label":
            self.open_labels += 1
            if a.get("for"):
                self.label_for.add(str(a["for"]))
        elif tag in {"input", "textarea", "select"} and a.get("type") != "hidden":
            self.controls.append({**a, "_wrapped": "1" if self.open_labels else None})

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.open_labels -= 1

    def unlabelled(self) -> list[str]:
        return [
            str(c.get("name"))
            for c in self.controls
            if not c["_wrapped"] and c.get("id") not in self.label_for
            and not c.get("aria-label")
        ]  # fmt: skip


def unlabelled_controls(html: str) -> list[str]:
    parser = _Controls()
    parser.feed(html)
    return parser.unlabelled()


async def test_dashboard_shows_campaign_progress_tasks_and_activity(web: Web) -> None:
    client = await web.user("a@example.com")
    seeded = await seed_user_data(web.sessions, "a@example.com")
    html = (await client.get("/")).text
    assert "Dentists for a@example.com" in html
    assert re.search(r'<progress max="2" value="0"', html)
    assert "0/2 done" in html
    assert html.count("book a cleaning") == 2  # both tasks in the table
    assert f'href="/calls/{seeded.call_id}"' in html  # the activity feed links the call


async def test_call_page_shows_transcript_timeline_facts_outcome_and_latency(web: Web) -> None:
    client = await web.user("a@example.com")
    seeded = await seed_user_data(web.sessions, "a@example.com")
    html = (await client.get(f"/calls/{seeded.call_id}")).text
    assert f'data-call-id="{seeded.call_id}"' in html
    assert re.search(r'class="turn agent" data-seq="1">.*Hello', html)
    assert re.search(r'class="turn callee" data-seq="2">.*Dental office', html)
    assert "answered" in html  # timeline event
    assert "Tuesday 10:00" in html  # fact
    assert "booked" in html  # outcome
    assert html.count("<rect") == 3  # one bar per latency value


def test_latency_chart_scales_and_skips_junk() -> None:
    svg = str(latency_svg([100, "x", -5, 200]))
    assert svg.count("<rect") == 2
    assert "highest 200 ms" in svg
    assert latency_svg([]) is None


async def test_every_page_carries_the_question_prompt_and_labels_its_controls(web: Web) -> None:
    client = await web.user("a@example.com")
    seeded = await seed_user_data(web.sessions, "a@example.com")
    pages = ["/", "/profile", "/dnd", "/chat", f"/calls/{seeded.call_id}",
             f"/campaigns/{seeded.campaign_id}"]  # fmt: skip
    for path in pages:
        html = (await client.get(path)).text
        assert 'id="question-template"' in html, path
        assert '<script src="/static/app.js"' in html, path
        assert unlabelled_controls(html) == [], path
    anonymous = web.client()
    for path in ["/login", "/signup"]:
        html = (await anonymous.get(path)).text
        assert unlabelled_controls(html) == [], path
        assert "question-template" not in html  # nobody to ask before login
    script = await anonymous.get("/static/app.js")
    assert script.status_code == 200
    assert "/api/feedback/" in script.text
    assert "Notification" in script.text


async def test_pages_escape_what_people_and_callees_type(web: Web) -> None:
    client = await web.user("a@example.com")
    token = csrf_from((await client.get("/profile")).text)
    await client.post(
        "/profile",
        data={"csrf_token": token, "display_name": "<script>alert(1)</script>",
              "time_zone": "UTC"},
    )  # fmt: skip
    html = (await client.get("/profile")).text
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


async def test_token_made_on_the_profile_page_is_shown_once(web: Web) -> None:
    client = await web.user("a@example.com")
    token = csrf_from((await client.get("/profile")).text)
    form = {"csrf_token": token, "name": "laptop", "scopes": ["read"], "days": "7"}
    assert (await client.post("/profile/tokens", data=form)).status_code == 303
    made = await client.get("/profile")
    secret = re.search(r"<code>(odt_[^<]+)</code>", made.text)
    assert secret
    assert re.search(r"laptop <span class=\"badge\">read</span>", made.text)
    unscoped = await client.post("/profile/tokens", data={"csrf_token": token, "name": "x"})
    assert unscoped.status_code == 422
    assert "Tick at least one" in unscoped.text
    assert secret.group(1) not in (await client.get("/profile")).text
    script = web.client()
    script.headers["Authorization"] = f"Bearer {secret.group(1)}"
    assert (await script.get("/api/profile")).status_code == 200
    token_id = (await client.get("/api/tokens")).json()[0]["id"]
    revoked = await client.post(f"/profile/tokens/{token_id}/revoke", data={"csrf_token": token})
    assert revoked.status_code == 303
    assert (await script.get("/api/profile")).status_code == 401


async def test_without_an_assistant_the_chat_says_so_and_refuses(web: Web) -> None:
    client = await web.user("a@example.com")
    assert "assistant is not running" in (await client.get("/chat")).text
    response = await client.post("/api/chat", json={"message": "hi"})
    assert response.status_code == 503
    response = await client.post("/api/test-call", json={"phone_number": "+14155550100",
                                                         "objective": "hello"})  # fmt: skip
    assert response.status_code == 503


async def test_a_call_on_hold_shows_since_when_and_a_call_off_hold_does_not(web: Web) -> None:
    """The page starts the "on hold m:ss" clock from the stored hold (app.js keeps it live
    from call_hold events); the timeline says when the call went on and off hold."""
    client = await web.user("a@example.com")
    seeded = await seed_user_data(web.sessions, "a@example.com")
    page = f"/calls/{seeded.call_id}"
    assert re.search(
        r'<p id="call-hold"[^>]*data-since=""[^>]*hidden', (await client.get(page)).text
    )
    async with web.sessions() as s, s.begin():
        went = await calls.append_event(
            s, user_id=seeded.user_id, call_id=seeded.call_id, kind="on_hold"
        )
    assert went is not None
    html = (await client.get(page)).text
    notice = re.search(r'<p id="call-hold"[^>]*>', html)
    assert notice is not None
    assert f'data-since="{went.at.isoformat()}"' in notice.group(0)
    assert "hidden" not in notice.group(0)
    assert "on hold" in html  # the timeline
    async with web.sessions() as s, s.begin():
        await calls.append_event(s, user_id=seeded.user_id, call_id=seeded.call_id, kind="off_hold")
    assert re.search(r'<p id="call-hold"[^>]*hidden', (await client.get(page)).text)
