"""The person's own number is used only once verified: no text to it (the notifier, the
agent's send_sms), no call handed to it (the agent's transfer_to_user); the code that
verifies it goes out by text (recorded without the code) or by a call whose agent is
told the code, and whose outcome never quotes it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from audio_processing.call_brief import build_instructions
from call_processor.agent_brief import brief_from_context
from call_processor.call_tools import CallToolHost
from common.command_bus import InProcessCommandBus
from common.commands import Transfer
from database.profile import Profile
from database.repositories import messages, phone_codes, tasks
from database.states import MessageStatus, TaskStatus
from task_manager.notifier import Notifier
from task_manager.phone_code_delivery import OBJECTIVE, PhoneCodeDelivery
from task_manager.post_call_analyzer import PostCallAnalyzer
from task_manager.senders import EmailSender, SmsSender
from tests.support.fake_twilio import FakeTwilio
from tests.support.smtp_server import LocalSmtpServer
from tests.task_manager.helpers import (
    WEDNESDAY_15_UTC,
    FakeClock,
    FakeLauncher,
    Sessions,
    get_task,
    make_user,
    report,
    scheduler_on,
    verify_phone,
)
from tests.task_manager.test_senders_and_notifier import email_settings, sms_settings

PERSON = "+12125550199"


async def test_an_unverified_number_is_never_texted(sessions: Sessions) -> None:
    user = await make_user(sessions, phone_number=PERSON)
    async with FakeTwilio() as twilio, LocalSmtpServer() as smtp:
        sms = SmsSender(sms_settings(twilio))
        notifier = Notifier(sessions, email=EmailSender(email_settings(smtp)), sms=sms)
        refused = await notifier.agent_tools()["send_sms"](user.id, "", "Booked Tuesday")
        told = await notifier.notify(user.id, "Campaign done", "2 of 2 booked", kind="summary")
        (mail,) = await smtp.wait_for(1)
        assert twilio.sent == []  # nothing reached the unverified number
        await verify_phone(sessions, user)
        sent = await notifier.agent_tools()["send_sms"](user.id, "", "Booked Tuesday")
        await sms.aclose()
    assert json.loads(refused) == {
        "sent": False,
        "reason": "the person's phone number is not verified yet; carry on",
    }
    assert [m.channel for m in told] == ["email"]  # the summary still reached them
    assert mail["Subject"] == "Campaign done"
    assert json.loads(sent) == {"sent": True}
    assert twilio.sent == [{"To": PERSON, "From": "+15005550006", "Body": "Booked Tuesday"}]


async def test_transfer_to_an_unverified_number_is_refused_and_the_agent_carries_on(
    sessions: Sessions,
) -> None:
    user = await make_user(sessions, phone_number=PERSON)
    bus = InProcessCommandBus()
    tools = CallToolHost(sessions=sessions, bus=bus, user_id=user.id, call_id="c-1", task_id=None)
    async with bus.subscribe("c-1") as commands:
        refused = await tools.call_tool("transfer_to_user", {})
        await verify_phone(sessions, user)
        accepted = await tools.call_tool("transfer_to_user", {})
        first = await anext(commands)  # what the call's handler would execute
    await bus.aclose()
    assert json.loads(refused) == {"error": "the person's number is not verified; carry on"}
    assert json.loads(accepted) == {"transferring": True}
    assert first == Transfer(target=PERSON)  # the only command: the refusal sent none


async def test_a_code_by_text_reaches_the_number_and_the_record_keeps_no_code(
    sessions: Sessions,
) -> None:
    user = await make_user(sessions, phone_number=PERSON)
    async with FakeTwilio() as twilio:
        sms = SmsSender(sms_settings(twilio))
        delivery = PhoneCodeDelivery(sessions, Notifier(sessions, sms=sms))
        sent = await delivery.send(user.id, PERSON, "407153", 10)
        moved = await delivery.send(user.id, "+12125550100", "111111", 10)
        await sms.aclose()
    assert sent == {"channel": "sms"}
    assert moved == {"problems": ["the number changed meanwhile"]}
    assert [m["Body"] for m in twilio.sent] == [
        "Your OpenDeep verification code is 407153. It is valid for 10 minutes."
    ]
    async with sessions() as s:
        (row,) = await messages.list_for_user(s, user_id=user.id)
    assert (row.status, row.to_address) == (MessageStatus.SENT, PERSON)
    assert "407153" not in row.body  # the notifications page shows this row


async def test_a_code_by_call_tells_the_agent_the_code_and_its_outcome_never_quotes_it(
    sessions: Sessions,
) -> None:
    user = await make_user(sessions, phone_number=PERSON, display_name="Dana")
    delivery = PhoneCodeDelivery(sessions)  # no SMS configured: a call
    first = await delivery.send(user.id, PERSON, "111111", 10)
    second = await delivery.send(user.id, PERSON, "407153", 10)
    assert first["channel"] == second["channel"] == "call"
    async with sessions() as s:
        old, new = await tasks.list_for_user(s, user_id=user.id)
    assert (old.status, old.last_decision_reason) == (
        TaskStatus.CANCELLED, "a newer code was asked for",
    )  # fmt: skip
    assert new.campaign_id == second["campaign_id"]
    assert (new.objective, new.max_attempts, new.priority) == (OBJECTIVE, 1, tasks.MAX_PRIORITY)
    assert phone_codes.is_verification(new.inter_call_context)
    assert "407153" not in new.objective  # the dashboard shows objectives, never the context

    clock = FakeClock(WEDNESDAY_15_UTC)
    launcher = FakeLauncher()
    analyzer = PostCallAnalyzer(sessions, None, clock=clock)
    scheduler = scheduler_on(sessions, launcher, clock, on_call_done=analyzer.on_call_done)
    (planned,) = await scheduler.tick()
    brief = brief_from_context(planned.context, "Dana", Profile(), datetime.now(UTC))
    instructions = build_instructions(brief)
    assert instructions.count("4 0 7 1 5 3") == 2  # digit by digit, twice
    assert planned.phone_number == PERSON

    spoken = report(
        "completed", answered=True, agent_outcome="failure", summary="Read 407153 twice."
    )
    await launcher.finish(new.id, spoken)
    done = await get_task(sessions, new)
    assert (done.status, done.last_decision_reason) == (
        TaskStatus.SUCCEEDED, "the code was read out on the call",
    )  # fmt: skip
    assert done.result is None
