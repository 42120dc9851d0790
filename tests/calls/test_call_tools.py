"""The agent's tools that reach the person: bounded per call, whatever the callee says."""

from __future__ import annotations

import json
from pathlib import Path

from call_processor.call_tools import MAX_MESSAGES_PER_CALL, CallToolHost
from common.command_bus import InProcessCommandBus
from database.engine import create_engine_for, session_factory
from database.migrate import upgrade
from database.repositories import users


async def test_a_callee_cannot_make_the_agent_message_the_person_again_and_again(
    tmp_path: Path,
) -> None:
    """Issue 13: a prompt-injected callee could make the agent send any number of SMS or
    emails to the owner."""
    await upgrade(None, tmp_path)
    engine = create_engine_for(None, tmp_path)
    sent: list[tuple[int, str, str]] = []

    async def sender(user_id: int, subject: str, text: str) -> str:
        sent.append((user_id, subject, text))
        return json.dumps({"sent": True})

    try:
        sessions = session_factory(engine)
        async with sessions() as s, s.begin():
            user = await users.create(s, email="owner@example.org", password_hash="x")
        tools = CallToolHost(
            sessions=sessions, bus=InProcessCommandBus(), user_id=user.id, call_id="c-1",
            task_id=None, senders={"send_sms": sender, "send_email": sender},
        )  # fmt: skip
        answers = [await tools.call_tool("send_sms", {"text": f"n{n}"}) for n in range(3)]
        answers.append(await tools.call_tool("send_email", {"subject": "s", "body": "b"}))
    finally:
        await engine.dispose()
    assert len(sent) == MAX_MESSAGES_PER_CALL
    assert [json.loads(a).get("error", "") for a in answers[MAX_MESSAGES_PER_CALL:]] == [
        "enough messages were sent on this call; carry on"
    ] * (4 - MAX_MESSAGES_PER_CALL)
