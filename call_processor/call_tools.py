"""The agent's tools for one call: what the model's function calls do in the world.

Why through the command bus: send_dtmf and transfer are the same commands a person's
browser (or another process) can send, so there is one path to AMI, executed by the call's
handler wherever it runs. request_user_feedback waits for the person's answer, which
arrives on the same per-call channel as a FeedbackAnswer command.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from call_processor.call_records import added
from call_processor.callback_time import parse_callback_time
from common.announce import announce
from common.command_bus import CommandBus
from common.commands import CallCommand, FeedbackAnswer, SendDtmf, Transfer
from common.events import FeedbackRequested
from database.repositories import calls, feedback, users

log = logging.getLogger(__name__)

# Tools offered to the model; send_sms / send_email join when a sender is configured.
BASE_TOOLS = (
    "send_dtmf", "end_call", "request_user_feedback", "transfer_to_user", "record_fact",
    "schedule_callback", "report_voicemail", "report_on_hold",
)  # fmt: skip
MAX_MESSAGES_PER_CALL = 2  # texts and emails to the person, together
PersonSender = Callable[[int, str, str], Awaitable[str]]  # (user_id, subject, text) -> result


class CallToolHost:
    """A ToolHost for the realtime bridge, scoped to one user's one call."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        bus: CommandBus,
        user_id: int,
        call_id: str,
        task_id: int | None,
        feedback_timeout: float = 120.0,
        senders: dict[str, PersonSender] | None = None,
        callee_zone: tzinfo = UTC,
    ) -> None:
        self.sessions, self.bus = sessions, bus
        self.user_id, self.call_id, self.task_id = user_id, call_id, task_id
        self.feedback_timeout = feedback_timeout
        self.senders = senders or {}
        self.callee_zone = callee_zone
        self._messages_sent = 0
        self._answers: dict[int, asyncio.Future[str]] = {}
        self.facts: dict[str, str] = {}

    @property
    def tool_names(self) -> tuple[str, ...]:
        return BASE_TOOLS + tuple(sorted(self.senders))

    async def call_tool(self, name: str, args: dict[str, Any]) -> str:
        handler = getattr(self, f"_tool_{name}", None)
        if handler is None or name not in self.tool_names:
            return json.dumps({"error": f"unknown tool {name}"})
        try:
            return str(await handler(**args))
        except (TypeError, ValueError, ValidationError) as exc:
            return json.dumps({"error": f"invalid arguments: {type(exc).__name__}"})

    async def on_command(self, command: CallCommand) -> None:
        """The person's answer to a question, delivered by the call's command loop."""
        if isinstance(command, FeedbackAnswer):
            waiting = self._answers.get(command.request_id)
            if waiting is not None and not waiting.done():
                waiting.set_result(command.answer)

    async def _tool_send_dtmf(self, digits: str) -> str:
        await self.bus.publish(self.call_id, SendDtmf(digits=digits))
        return json.dumps({"sent": True})

    async def _tool_transfer_to_user(self) -> str:
        async with self.sessions() as s:
            person = await users.get(s, self.user_id)
        if person is None or not person.phone_number:
            return json.dumps({"error": "the person has no phone number on file; carry on"})
        if person.phone_verified_at is None:  # typed in, never proven theirs
            return json.dumps({"error": "the person's number is not verified; carry on"})
        await self.bus.publish(self.call_id, Transfer(target=person.phone_number))
        return json.dumps({"transferring": True})

    async def _tool_record_fact(self, key: str, value: str) -> str:
        self.facts[str(key)[:100]] = str(value)[:2000]
        async with self.sessions() as s, s.begin():
            await calls.update(s, user_id=self.user_id, call_id=self.call_id, facts=self.facts)
        return json.dumps({"recorded": True})

    async def _tool_schedule_callback(self, when: str) -> str:
        """The callee's words go in the facts; an exact time (ISO 8601) also becomes the
        row's callback_at, which the analyzer turns into the next attempt's time."""
        words = str(when)[:200]
        self.facts["callback_requested"] = words
        at = parse_callback_time(words, self.callee_zone, datetime.now(UTC))
        async with self.sessions() as s, s.begin():
            await calls.update(
                s, user_id=self.user_id, call_id=self.call_id, facts=self.facts, callback_at=at
            )
            noted = await calls.append_event(
                s,
                user_id=self.user_id,
                call_id=self.call_id,
                kind="callback_requested",
                data={"when": words, "at": at.isoformat() if at else None},
            )
        if noted is not None:
            await announce(self.bus, self.user_id, added(noted))
        if at is None:
            note = "Noted in their words; give an exact local date and time next time."
            return json.dumps({"scheduled": True, "when": words, "note": note})
        return json.dumps({"scheduled": True, "at_utc": at.isoformat()})

    async def _tool_end_call(self, **_: Any) -> str:
        return json.dumps({"ending": True})  # the bridge itself says goodbye and hangs up

    async def _tool_report_voicemail(self, **_: Any) -> str:
        return json.dumps({"voicemail": True})  # the bridge follows the voicemail policy

    async def _tool_report_on_hold(self, **_: Any) -> str:
        return json.dumps({"on_hold": True})  # the bridge stops the model listening

    async def _tool_request_user_feedback(self, question: str) -> str:
        """Ask the person live; the callee hears the agent say it is checking meanwhile."""
        expires = datetime.now(UTC) + timedelta(seconds=self.feedback_timeout)
        async with self.sessions() as s, s.begin():
            row = await feedback.create(
                s,
                user_id=self.user_id,
                call_id=self.call_id,
                task_id=self.task_id,
                question=question[:2000],
                expires_at=expires,
            )
        answer = asyncio.get_running_loop().create_future()
        self._answers[row.id] = answer
        await self._announce(row.id, question, expires)
        text: str | None = None
        try:
            text = await asyncio.wait_for(answer, self.feedback_timeout)
        except TimeoutError:
            return json.dumps(
                {
                    "answered": False,
                    "note": "The person did not answer in time. "
                    "Carry on without it, or offer to call back.",
                }
            )
        finally:
            self._answers.pop(row.id, None)
            if text is None:  # timed out, or the call ended while it waited
                await asyncio.shield(self._stop_waiting(row.id))
        return json.dumps({"answered": True, "answer": text})

    async def _stop_waiting(self, request_id: int) -> None:
        """Nobody waits for this answer any more: the row stops taking one, and every open
        page takes the question away (FeedbackClosed, announced after the commit), not
        only when its own countdown runs out."""
        try:
            async with self.sessions() as s, s.begin():
                await feedback.expire(s, user_id=self.user_id, request_id=request_id)
        except Exception:  # the lifecycle sweep expires it at its deadline
            log.warning("could not expire a question", exc_info=True)

    async def _announce(self, request_id: int, question: str, expires: datetime) -> None:
        # The row is there: a page that opens later still shows the question.
        asked = FeedbackRequested(
            request_id=request_id, call_id=self.call_id, question=question, expires_at=expires
        )
        await announce(self.bus, self.user_id, asked)

    async def _tool_send_sms(self, text: str) -> str:
        return await self._message("send_sms", "", text)

    async def _tool_send_email(self, subject: str, body: str) -> str:
        return await self._message("send_email", subject, body)

    async def _message(self, sender: str, subject: str, text: str) -> str:
        """A few per call at most: a callee talking the model into messaging the person
        again and again must not turn the agent into a spammer of its own owner."""
        if self._messages_sent >= MAX_MESSAGES_PER_CALL:
            log.warning("message to the person refused: too many on this call")
            return json.dumps({"error": "enough messages were sent on this call; carry on"})
        self._messages_sent += 1
        return await self.senders[sender](self.user_id, subject, text)
