"""Outgoing email (SMTP via aiosmtplib) and SMS (Twilio's REST API via httpx).

Thin shells: each returns the provider's id for the message or raises SendError with a
reason fit for the messages table (never the recipient's address or the body).

Text is made sendable here, where the provider's rules are known, whatever the caller
passes: header values (the subject, the recipient) become one line, and bodies lose NUL
and unpaired surrogates. Anything else a provider library refuses, whatever exception
it uses, becomes SendError. Before, a campaign name with a newline made the summary's
subject raise ValueError: the message row stayed pending and the lifecycle sweep that
sends summaries aborted (issue 13).
"""

from __future__ import annotations

import email.errors
import unicodedata
from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib
import httpx

from config.settings import EmailSettings, SmsSettings

# What a provider library may raise for input it will not take, besides its own errors.
_REFUSED = (ValueError, TypeError, email.errors.MessageError)
_LINE_BREAKS = frozenset("\u2028\u2029\x85")


class SendError(Exception):
    """The provider refused or could not be reached; the message is recorded as failed."""


def header_text(value: str) -> str:
    """One line of plain text: control characters and line breaks become spaces (a header
    with a line break is refused, and would be a header injection if it were not)."""
    spaced = "".join(
        " " if unicodedata.category(c) == "Cc" or c in _LINE_BREAKS else c for c in value
    )
    return body_text(" ".join(spaced.split()))


def body_text(value: str) -> str:
    """Without NUL, and with unpaired surrogates (not encodable as UTF-8) as U+FFFD."""
    return value.replace("\x00", "").encode("utf-16", "surrogatepass").decode("utf-16", "replace")


class EmailSender:
    def __init__(self, settings: EmailSettings, timeout: float = 15.0) -> None:
        if not settings.host:
            raise ValueError("email needs SMTP_HOST")
        self.settings = settings
        self.timeout = timeout

    async def send(self, to: str, subject: str, body: str) -> str:
        """Returns the Message-ID, the id that finds this email in any mail log."""
        try:
            message, message_id = self._message(to, subject, body)
        except _REFUSED as exc:
            raise SendError(f"email could not be built: {type(exc).__name__}") from exc
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
        except _REFUSED as exc:  # its message may quote the address: not recorded
            raise SendError(f"SMTP refused the message: {type(exc).__name__}") from exc
        return message_id

    def _message(self, to: str, subject: str, body: str) -> tuple[EmailMessage, str]:
        message = EmailMessage()
        message["From"] = self.settings.sender
        message["To"] = header_text(to)
        message["Subject"] = header_text(subject)
        message_id = make_msgid(domain=self.settings.sender.rpartition("@")[2] or None)
        message["Message-ID"] = message_id
        message.set_content(body_text(body))
        return message, message_id


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
        form = {"To": header_text(to), "From": self.from_number, "Body": body_text(body)}
        try:
            response = await self.client.post(self.url, data=form)
        except httpx.HTTPError as exc:
            raise SendError(f"Twilio unreachable: {type(exc).__name__}") from exc
        except _REFUSED as exc:
            raise SendError(f"the SMS could not be sent: {type(exc).__name__}") from exc
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
