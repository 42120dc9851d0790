"""Outgoing email (SMTP via aiosmtplib) and SMS (Twilio's REST API via httpx).

Thin shells: each returns the provider's id for the message or raises SendError with a
reason fit for the messages table (never the recipient's address or the body).
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib
import httpx

from config.settings import EmailSettings, SmsSettings


class SendError(Exception):
    """The provider refused or could not be reached; the message is recorded as failed."""


class EmailSender:
    def __init__(self, settings: EmailSettings, timeout: float = 15.0) -> None:
        if not settings.host:
            raise ValueError("email needs SMTP_HOST")
        self.settings = settings
        self.timeout = timeout

    async def send(self, to: str, subject: str, body: str) -> str:
        """Returns the Message-ID, the id that finds this email in any mail log."""
        message = EmailMessage()
        message["From"] = self.settings.sender
        message["To"] = to
        message["Subject"] = subject
        message_id = make_msgid(domain=self.settings.sender.rpartition("@")[2] or None)
        message["Message-ID"] = message_id
        message.set_content(body)
        password = self.settings.password.get_secret_value() if self.settings.password else None
        try:
            await aiosmtplib.send(
                message,
                hostname=self.settings.host,
                port=self.settings.port,
                username=self.settings.username,
                password=password,
                start_tls=self.settings.starttls,
                timeout=self.timeout,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise SendError(f"SMTP: {type(exc).__name__}: {exc}") from exc
        return message_id


class SmsSender:
    """POST {base}/2010-04-01/Accounts/{sid}/Messages.json with To, From, Body; basic auth."""

    def __init__(self, settings: SmsSettings, timeout: float = 15.0) -> None:
        if not (settings.account_sid and settings.auth_token and settings.from_number):
            raise ValueError("SMS needs a Twilio account SID, auth token and from number")
        self.sid = settings.account_sid
        self.from_number = settings.from_number
        self.url = f"{settings.base_url.rstrip('/')}/2010-04-01/Accounts/{self.sid}/Messages.json"
        self.client = httpx.AsyncClient(
            auth=(self.sid, settings.auth_token.get_secret_value()), timeout=timeout
        )

    async def send(self, to: str, body: str) -> str:
        """Returns Twilio's message SID."""
        form = {"To": to, "From": self.from_number, "Body": body}
        try:
            response = await self.client.post(self.url, data=form)
        except httpx.HTTPError as exc:
            raise SendError(f"Twilio unreachable: {type(exc).__name__}") from exc
        if response.status_code not in (200, 201):
            raise SendError(f"Twilio refused ({response.status_code}): {_twilio_error(response)}")
        sid = _json(response).get("sid")
        if not isinstance(sid, str):
            raise SendError("Twilio answered without a message sid")
        return sid

    async def aclose(self) -> None:
        await self.client.aclose()


def _json(response: httpx.Response) -> dict[str, object]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _twilio_error(response: httpx.Response) -> str:
    data = _json(response)
    return f"code {data.get('code', '?')}: {data.get('message', 'no message')}"


def email_sender(settings: EmailSettings) -> EmailSender | None:
    """None when email is not configured (SMTP_HOST unset)."""
    return EmailSender(settings) if settings.host else None


def sms_sender(settings: SmsSettings) -> SmsSender | None:
    """None when SMS is not configured."""
    if settings.account_sid and settings.auth_token and settings.from_number:
        return SmsSender(settings)
    return None
