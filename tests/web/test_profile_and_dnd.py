"""Profile and do-not-call input: normalised when valid, 422 with the reason when not."""

from __future__ import annotations

from sqlalchemy import select

from database.models import DndEntry, User
from tests.web.conftest import Web, csrf_from


async def _user(web: Web, email: str) -> User:
    async with web.sessions() as s:
        user = await s.scalar(select(User).where(User.email == email))
    assert user is not None
    return user


async def test_profile_update_normalises_and_stores_what_the_agent_reads(web: Web) -> None:
    client = await web.user("a@example.com")
    response = await client.put(
        "/api/profile",
        json={
            "display_name": " Ann Lee ",
            "phone_number": "(415) 555-0123",  # the default region (US) fills in +1
            "time_zone": "America/Los_Angeles",
            "facts": {"date of birth": "1990-02-03", "insurer": "Acme"},
            "never_share": ["social security number"],
        },
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "email": "a@example.com",
        "display_name": "Ann Lee",
        "phone_number": "+14155550123",
        "phone_verified": False,  # until a code sent to it comes back
        "time_zone": "America/Los_Angeles",
        "facts": {"date of birth": "1990-02-03", "insurer": "Acme"},
        "never_share": ["social security number"],
    }
    user = await _user(web, "a@example.com")
    assert user.profile.facts == {"date of birth": "1990-02-03", "insurer": "Acme"}
    assert user.profile.never_share == ("social security number",)
    cleared = await client.put("/api/profile", json={"phone_number": ""})
    assert cleared.json()["phone_number"] is None
    assert cleared.json()["display_name"] == "Ann Lee"  # left-out fields stay


async def test_bad_profile_input_is_422_naming_the_field_and_nothing_is_stored(web: Web) -> None:
    client = await web.user("a@example.com")
    cases = [
        ({"phone_number": "+1 555"}, "phone_number", "phone number"),
        ({"phone_number": "call me maybe"}, "phone_number", "phone number"),
        ({"phone_number": "1" * 41}, "phone_number", "at most 40"),
        ({"time_zone": "Mars/Olympus"}, "time_zone", "not a known time zone"),
        ({"display_name": "x" * 201}, "display_name", "at most 200"),
        ({"facts": {"k": "v" * 501}}, "k", "at most 500"),
        ({"facts": {f"k{i}": "v" for i in range(51)}}, "facts", "at most 50"),
        ({"never_share": ["x"] * 51}, "never_share", "at most 50"),
        ({"email": "b@example.com"}, "email", "Extra inputs"),
    ]
    for body, field, message in cases:
        response = await client.put("/api/profile", json={"display_name": "Changed", **body})
        assert response.status_code == 422, body
        detail = response.json()["detail"]
        assert any(field in map(str, d["loc"]) and message in d["msg"] for d in detail), detail
    user = await _user(web, "a@example.com")
    assert (user.display_name, user.phone_number, user.time_zone) == ("", None, "UTC")


async def test_dnd_add_normalises_refuses_bad_numbers_and_removes(web: Web) -> None:
    client = await web.user("a@example.com")
    added = await client.post("/api/dnd", json={"phone_number": "+44 20 7946 0958", "reason": "x"})
    assert added.status_code == 201
    assert added.json()["phone_number"] == "+442079460958"
    again = await client.post("/api/dnd", json={"phone_number": "+442079460958"})
    assert again.json()["id"] == added.json()["id"]  # idempotent
    for bad in ["12", "+999 123", "x" * 41]:
        response = await client.post("/api/dnd", json={"phone_number": bad})
        assert response.status_code == 422, bad
        assert response.json()["detail"][0]["loc"] == ["body", "phone_number"]
    too_long = await client.post(
        "/api/dnd", json={"phone_number": "+14155550100", "reason": "r" * 501}
    )
    assert too_long.status_code == 422
    async with web.sessions() as s:
        assert len(list(await s.scalars(select(DndEntry)))) == 1
    assert (await client.delete(f"/api/dnd/{added.json()['id']}")).status_code == 204
    assert (await client.get("/api/dnd")).json() == []
    assert (await client.delete(f"/api/dnd/{added.json()['id']}")).status_code == 404


async def test_profile_and_dnd_forms_show_the_problem_and_store_nothing(web: Web) -> None:
    client = await web.user("a@example.com")
    token = csrf_from((await client.get("/profile")).text)
    bad = await client.post(
        "/profile",
        data={"csrf_token": token, "display_name": "Ann", "phone_number": "12",
              "time_zone": "UTC"},
    )  # fmt: skip
    assert bad.status_code == 422
    assert "Nothing was saved" in bad.text
    assert "phone number" in bad.text
    assert (await _user(web, "a@example.com")).display_name == ""
    good = await client.post(
        "/profile",
        data={"csrf_token": token, "display_name": "Ann", "phone_number": "+14155550123",
              "time_zone": "Europe/Paris", "fact_label": ["insurer", "", "diet"],
              "fact_value": ["Acme", "", "vegetarian"], "never_share": "ssn\n\n"},
    )  # fmt: skip
    assert good.status_code == 303
    assert "Your profile is saved." in (await client.get("/profile")).text
    profile = (await client.get("/api/profile")).json()
    assert profile["facts"] == {"insurer": "Acme", "diet": "vegetarian"}
    assert profile["never_share"] == ["ssn"]
    assert profile["time_zone"] == "Europe/Paris"
    dnd_bad = await client.post("/dnd", data={"csrf_token": token, "phone_number": "555"})
    assert dnd_bad.status_code == 422
    assert "Nothing was added: &#34;555&#34; is not a valid phone number" in dnd_bad.text
    dnd_ok = await client.post("/dnd", data={"csrf_token": token, "phone_number": "+14155550100"})
    assert dnd_ok.status_code == 303
    page = (await client.get("/dnd")).text
    assert "+14155550100" in page
