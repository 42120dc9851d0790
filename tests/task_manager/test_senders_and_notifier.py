"""Email through a real local SMTP server, SMS through a local server checking Twilio's
exact request; both recorded in messages, and only ever to the person themselves."""

from __future__ import annotations

from email.header import decode_header, make_header

import pytest
from pydantic import SecretStr

from config.settings import EmailSettings, SmsSettings
from database.errors import NotFound
from database.repositories import messages
from database.states import MessageChannel, MessageStatus
from task_manager.notifier import Notifier
from task_manager.senders import EmailSender, SendError, SmsSender
from tests.support.fake_twilio import FakeTwilio
from tests.support.smtp_server import LocalSmtpServer
from tests.task_manager.helpers import Sessions, make_user, verify_phone

PERSON = "+12125550199"


def email_settings(smtp: LocalSmtpServer) -> EmailSettings:
    return EmailSettings(host="127.0.0.1", port=smtp.port, starttls=False, sender="od@example.org")


def sms_settings(twilio: FakeTwilio, token: str | None = None) -> SmsSettings:
    return SmsSettings(
        account_sid=twilio.account_sid,
        auth_token=SecretStr(token or twilio.auth_token),
        from_number="+15005550006",
        base_url=twilio.base_url,
    )


async def test_email_to_the_person_arrives_and_is_recorded(sessions: Sessions) -> None:
    user = await make_user(sessions)
    async with LocalSmtpServer() as smtp:
        notifier = Notifier(sessions, email=EmailSender(email_settings(smtp)))
        row = await notifier.send_email(user.id, "Booked", "Tuesday 10:00")
        (mail,) = await smtp.wait_for(1)
    assert (mail["To"], mail["From"], mail["Subject"]) == (user.email, "od@example.org", "Booked")
    assert mail.get_payload().strip() == "Tuesday 10:00"
    assert (row.status, row.channel, row.to_address) == (
        MessageStatus.SENT, MessageChannel.EMAIL, user.email,
    )  # fmt: skip
    assert row.provider_id == mail["Message-ID"]


async def test_sms_uses_twilios_exact_request(sessions: Sessions) -> None:
    user = await make_user(sessions, phone_number=PERSON)
    await verify_phone(sessions, user)
    async with FakeTwilio() as twilio:
        sender = SmsSender(sms_settings(twilio))
        notifier = Notifier(sessions, sms=sender)
        row = await notifier.send_sms(user.id, "Your appointment: Tue 10:00")
        await sender.aclose()
    assert twilio.sent == [
        {"To": PERSON, "From": "+15005550006", "Body": "Your appointment: Tue 10:00"}
    ]
    assert row.status == MessageStatus.SENT
    assert row.provider_id is not None
    assert row.provider_id.startswith("SM")


async def test_a_refused_sms_is_recorded_as_failed_with_twilios_reason(sessions: Sessions) -> None:
    user = await make_user(sessions, phone_number=PERSON)
    await verify_phone(sessions, user)
    async with FakeTwilio() as twilio:
        sender = SmsSender(sms_settings(twilio, token="wrong-token-xyz"))
        with pytest.raises(SendError, match="401"):
            await sender.send(PERSON, "x")
        row = await Notifier(sessions, sms=sender).send_sms(user.id, "hello")
        await sender.aclose()
    assert twilio.sent == []
    assert row.status == MessageStatus.FAILED
    assert "20003" in (row.error or "")


async def test_unreachable_smtp_and_unconfigured_channels_fail_visibly(sessions: Sessions) -> None:
    user = await make_user(sessions)
    async with LocalSmtpServer() as smtp:
        settings = email_settings(smtp)
    row = await Notifier(sessions, email=EmailSender(settings, timeout=2)).send_email(
        user.id, "s", "b"
    )
    assert row.status == MessageStatus.FAILED
    assert "SMTP" in (row.error or "")
    (only,) = await Notifier(sessions).notify(user.id, "subject", "body", kind="test")
    assert (only.status, only.error) == (MessageStatus.FAILED, "email is not configured")
    with pytest.raises(ValueError, match="no phone number"):
        await Notifier(sessions).send_sms(user.id, "no number on file")
    async with sessions() as s:
        assert len(await messages.list_for_user(s, user_id=user.id)) == 2


async def test_nothing_is_sent_or_recorded_for_a_user_who_is_gone(sessions: Sessions) -> None:
    gone = 987_654  # no such user
    with pytest.raises(NotFound, match="user not found"):
        await Notifier(sessions).send_email(gone, "subject", "body")
    with pytest.raises(NotFound, match="user not found"):
        await Notifier(sessions).send_sms(gone, "text")
    async with sessions() as s:
        assert await messages.list_for_user(s, user_id=gone) == []


async def test_agent_tools_are_offered_only_when_configured_and_reach_the_person(
    sessions: Sessions,
) -> None:
    user = await make_user(sessions)
    assert Notifier(sessions).agent_tools() == {}
    async with LocalSmtpServer() as smtp:
        tools = Notifier(sessions, email=EmailSender(email_settings(smtp))).agent_tools()
        assert set(tools) == {"send_email"}
        output = await tools["send_email"](user.id, "Your appointment", "Tuesday at 15:30")
        (mail,) = await smtp.wait_for(1)
    assert output == '{"sent": true}'
    assert mail["To"] == user.email
    assert mail["Subject"] == "Your appointment"


async def test_headers_sanitized_at_the_sender_and_other_refusals_are_send_errors(
    sessions: Sessions,
) -> None:
    """A campaign name with a line break in a summary's subject is sent as one line; a
    refusal by the mail library is a SendError, so the row is never left pending."""
    user = await make_user(sessions)
    subject = "Dentists\r\nBcc: someone@example.net done"
    async with LocalSmtpServer() as smtp:
        notifier = Notifier(sessions, email=EmailSender(email_settings(smtp)))
        row = await notifier.send_email(user.id, subject, "Booked Tuesday")
        sender = EmailSender(email_settings(smtp))
        await sender.send(user.email, "Odd\x00 text \ud800", "Booked\x00 Tuesday \ud800")
        first, second = await smtp.wait_for(2)
        with pytest.raises(SendError, match="SMTP refused the message: ValueError"):
            await sender.send("", "no recipient", "body")
    assert row.status == MessageStatus.SENT
    assert first["Subject"] == "Dentists Bcc: someone@example.net done"
    assert first["Bcc"] is None
    assert smtp.collector.envelopes[0].rcpt_tos == [user.email]
    assert str(make_header(decode_header(second["Subject"]))) == "Odd text \ufffd"
    assert second.get_payload(decode=True).decode().strip() == "Booked Tuesday \ufffd"

    async with FakeTwilio() as twilio:
        sms = SmsSender(sms_settings(twilio))
        await sms.send(PERSON + "\n", "Line one\nline two\x00 \udc00")
        await sms.aclose()
    assert twilio.sent == [
        {"To": PERSON, "From": "+15005550006", "Body": "Line one\nline two \ufffd"}
    ]  # bodies keep their lines
