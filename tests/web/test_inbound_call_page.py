"""The call page says who dialled: a call-back reads "Call from", an attempt "Call to"."""

from __future__ import annotations

import uuid

from database.repositories import calls, users
from database.states import CallDirection
from tests.web.conftest import Web


async def test_the_call_page_names_the_direction(web: Web) -> None:
    client = await web.user("a@example.com")
    async with web.sessions() as s, s.begin():
        user = await users.get_by_email(s, "a@example.com")
        assert user is not None
        made = {
            direction: await calls.create_dialing(
                s,
                user_id=user.id,
                call_id=str(uuid.uuid4()),
                phone_number="+14155550101",
                direction=direction,
            )
            for direction in CallDirection
        }
    inbound = (await client.get(f"/calls/{made[CallDirection.INBOUND].id}")).text
    outbound = (await client.get(f"/calls/{made[CallDirection.OUTBOUND].id}")).text
    assert "<h1>Call from +14155550101</h1>" in inbound
    assert "<h1>Call to +14155550101</h1>" in outbound
    api = (await client.get(f"/api/calls/{made[CallDirection.INBOUND].id}")).json()
    assert api["direction"] == "inbound"
