"""What `main.py demo` changes in the web app, and only there: the "Demo" badge on every
page, and sample history written at sign-up through the product's repositories."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from database.repositories import calls, campaigns, tasks, turns, users
from database.states import CampaignStatus, TaskStatus
from launcher.demo.sample_history import CAMPAIGN, SAMPLES, write_sample_history
from tests.web.conftest import Web, sign_up

ROOT = Path(__file__).resolve().parents[2]
BADGE = 'class="demo-badge"'


async def test_every_page_carries_the_demo_badge_in_demo_mode_and_none_otherwise(
    make_web: Callable[..., Web],
) -> None:
    demo, plain = make_web(demo=True), make_web()
    for web, shown in ((demo, True), (plain, False)):
        visitor = web.client()
        assert (BADGE in (await visitor.get("/login")).text) is shown
        person = await web.user(f"ann{shown}@example.com")
        for page in ("/", "/chat", "/profile", "/dnd", "/notifications"):
            assert (BADGE in (await person.get(page)).text) is shown, page


async def test_a_new_demo_account_gets_a_finished_sample_campaign_with_its_calls(
    make_web: Callable[..., Web],
) -> None:
    web = make_web(demo=True, on_signup=write_sample_history)
    await sign_up(web.client(), "ann@example.com", name="Ann")
    async with web.sessions() as s:
        user = await users.get_by_email(s, "ann@example.com")
        assert user is not None
        [campaign] = await campaigns.list_for_user(s, user_id=user.id)
        rows = await tasks.list_for_user(s, user_id=user.id)
        made = await calls.list_for_user(s, user_id=user.id)
        said = [await turns.list_for_call(s, user_id=user.id, call_id=c.id) for c in made]
    assert (campaign.name, campaign.status) == (CAMPAIGN, CampaignStatus.COMPLETED)
    assert campaign.summary is not None
    assert "1 of 2 tasks succeeded." in campaign.summary
    assert sorted(t.status for t in rows) == sorted(s.status for s in SAMPLES)
    assert all(TaskStatus(t.status).is_final for t in rows)
    assert sorted(len(t) for t in said) == sorted(len(s.turns) for s in SAMPLES)
    assert {c.summary for c in made} == {s.summary for s in SAMPLES}


async def test_another_account_sees_none_of_it(make_web: Callable[..., Web]) -> None:
    web = make_web(on_signup=write_sample_history)
    await sign_up(web.client(), "ann@example.com")
    bob = await web.user("bob@example.com")
    async with web.sessions() as s:
        ann = await users.get_by_email(s, "ann@example.com")
        assert ann is not None
        [ann_campaign] = await campaigns.list_for_user(s, user_id=ann.id)
    assert (await bob.get(f"/campaigns/{ann_campaign.id}")).status_code == 404
    assert len((await bob.get("/api/campaigns")).json()) == 1  # his own sample


def test_only_the_demo_command_wires_the_demo() -> None:
    """`main.py run` builds nothing of it: outside launcher/demo/, only the CLI's `demo`
    command imports it (inside the function that runs that command)."""
    importers = []
    for path in ROOT.glob("*/**/*.py"):
        relative = path.relative_to(ROOT)
        if relative.parts[0] in ("tests", ".venv", "benchmarks") or relative.parts[:2] == (
            "launcher",
            "demo",
        ):
            continue
        if re.search(r"^\s*(from|import) launcher\.demo", path.read_text(), re.MULTILINE):
            importers.append(str(relative))
    assert importers == ["launcher/cli.py"]
    cli = (ROOT / "launcher" / "cli.py").read_text()
    assert '    if command == "demo":\n        from launcher.demo import command' in cli
