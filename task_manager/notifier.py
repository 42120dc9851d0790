"""Messages to the person (never to anyone else): email, SMS, and a live event.

Every message is recorded before it is sent and marked sent (with the provider's id) or
failed after, so the person can see what reached them. The addresses come from the
user's own row: these are the `send_email` / `send_sms` tools the call agent may use,
and they cannot be pointed at a callee. Texts go only to a verified number (anyone can
type any number into a profile); the one exception is the code that verifies it.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.announce import announce
from common.command_bus import CommandBus
from common.events import NotificationSent
from database.models import Message
from database.repositories import messages, users
from database.states import MessageChannel, MessageStatus
from task_manager.senders import EmailSender, SendError, SmsSender

log = logging.getLogger(__name__)
SMS_LIMIT = 1500  # Twilio accepts 1600 characters; leave room for a suffix


class Notifier:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        email: EmailSender | None = None,
        sms: SmsSender | None = None,
        bus: CommandBus | None = None,
    ) -> None:
        self.sessions = sessions
        self.email = email
        self.sms = sms
        self.bus = bus

    async def send_email(self, user_id: int, subject: str, body: str) -> Message:
        async with self.sessions() as s, s.begin():
            user = await users.get_or_raise(s, user_id)
            row = await messages.record(
                s, user_id=user_id, channel=MessageChannel.EMAIL, to_address=user.email,
                body=body, subject=subject,
            )  # fmt: skip
        sender = self.email
        send = None if sender is None else (lambda: sender.send(row.to_address, subject, body))
        return await self._deliver(row, send, "email is not configured")

    async def send_sms(self, user_id: int, text: str) -> Message:
        async with self.sessions() as s, s.begin():
            user = await users.get_or_raise(s, user_id)
            if not user.phone_number:
                raise ValueError("the person has no phone number on file")
            if user.phone_verified_at is None:
                raise ValueError("the person's phone number is not verified yet")
            row = await messages.record(
                s, user_id=user_id, channel=MessageChannel.SMS, to_address=user.phone_number,
                body=text[:SMS_LIMIT],
            )  # fmt: skip
        sender = self.sms
        send = None if sender is None else (lambda: sender.send(row.to_address, row.body))
        return await self._deliver(row, send, "SMS is not configured")

    async def send_code(self, user_id: int, phone_number: str, text: str, shown: str) -> Message:
        """The verification code to the number being verified (so before it is verified):
        `text` is sent, `shown` (the text without the code) is what the messages row and
        the notifications page keep."""
        async with self.sessions() as s, s.begin():
            user = await users.get_or_raise(s, user_id)
            if user.phone_number != phone_number:
                raise ValueError("the number changed meanwhile")
            row = await messages.record(
                s, user_id=user_id, channel=MessageChannel.SMS, to_address=phone_number,
                body=shown,
            )  # fmt: skip
        sender = self.sms
        send = None if sender is None else (lambda: sender.send(phone_number, text))
        return await self._deliver(row, send, "SMS is not configured")

    def agent_tools(self) -> dict[str, Callable[[int, str, str], Awaitable[str]]]:
        """The call agent's send_sms / send_email: to the person only, when configured.

        Each takes (user_id, subject, text) and returns the function output for the model.
        """
        tools: dict[str, Callable[[int, str, str], Awaitable[str]]] = {}

        async def sms(user_id: int, _subject: str, text: str) -> str:
            try:
                message = await self.send_sms(user_id, text)
            except ValueError as exc:  # no phone number on file, or not verified
                return json.dumps({"sent": False, "reason": f"{exc}; carry on"})
            return json.dumps({"sent": message.status == MessageStatus.SENT})

        async def email(user_id: int, subject: str, body: str) -> str:
            message = await self.send_email(user_id, subject, body)
            return json.dumps({"sent": message.status == MessageStatus.SENT})

        if self.sms is not None:
            tools["send_sms"] = sms
        if self.email is not None:
            tools["send_email"] = email
        return tools

    async def notify(self, user_id: int, subject: str, body: str, kind: str) -> list[Message]:
        """Tell the person by every configured channel, and their open pages live.

        With no channel configured the email is still recorded (as failed, with why), so
        the notification is never silently lost.
        """
        sent: list[Message] = []
        if self.sms is not None:
            with contextlib.suppress(ValueError):  # no phone number, or not verified
                sent.append(await self.send_sms(user_id, f"{subject}\n{body}"))
        if self.email is not None or not sent:
            sent.insert(0, await self.send_email(user_id, subject, body))
        await announce(self.bus, user_id, NotificationSent(kind=kind, subject=subject))
        return sent

    async def _deliver(
        self, row: Message, send: Callable[[], Awaitable[str]] | None, unconfigured: str
    ) -> Message:
        provider_id, error = None, unconfigured
        if send is not None:
            try:
                provider_id, error = await send(), ""
            except SendError as exc:
                error = str(exc)
        async with self.sessions() as s, s.begin():
            if provider_id is not None:
                done = await messages.mark_sent(
                    s, user_id=row.user_id, message_id=row.id, provider_id=provider_id
                )
            else:
                done = await messages.mark_failed(
                    s, user_id=row.user_id, message_id=row.id, error=error
                )
        log.info("message handled", extra={"message_id": row.id, "channel": str(row.channel),
                                           "sent": provider_id is not None})  # fmt: skip
        return done or row
