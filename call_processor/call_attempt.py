"""One call attempt from Originate to the final row: the CallAttemptHandler.

Why one object per call: the call's AMI events, the commands published on its Redis
channel and its AudioSocket session are three sources that must end together. Whichever
says "over" first (Asterisk's Hangup, the talker returning, a hangup command, shutdown)
ends the rest, and whatever happens the calls row is closed: a call never stays in
progress after Asterisk hung it up, also when the AudioSocket never connected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from audio_processing.audio_socket_server import AudioSocketServer
from audio_processing.call_audio import CallMetadata, CallTalker, EndReason
from audio_processing.expected_call import ExpectedCall
from call_processor.ami import events as ami_events
from call_processor.ami import outcomes as ami_outcomes
from call_processor.ami.call_events import CallEvents
from call_processor.ami.client import AmiClient
from call_processor.ami.errors import AmiActionFailed, AmiError, AmiReplyLost
from call_processor.call_records import CallRecorder
from common.command_bus import CommandBus, CommandSubscription
from common.commands import CallCommand, FeedbackAnswer, Hangup, SendDtmf, Transfer
from common.log_context import bind_context
from common.owned_tasks import TaskOwner, cancel_and_wait
from database.states import CallStatus

log = logging.getLogger(__name__)

HANGUP_WAIT = 5.0  # after we asked Asterisk to hang up, how long to wait for its Hangup event
FAILURE_GRACE = 2.0  # a failed OriginateResponse precedes the Hangup that carries the cause
LIVENESS_INTERVAL = 15.0  # with no AMI event for this long, ask Asterisk if the channel exists
FINAL_WRITE_ATTEMPTS = 4  # the closing write of the calls row, retried with backoff
TRANSFER_MAX = 4 * 3600.0  # a transferred call is followed (slot held) until it hangs up


class TalkerOutcome(Protocol):
    """What a talker reports at the end (see call_processor.agent_talker.TalkerReport)."""

    outcome: str
    summary: str
    facts: dict[str, Any]
    latency_ms: list[float]


class PreparedTalker(CallTalker, Protocol):
    """A talker made before dialing (e.g. a pre-warmed realtime session)."""

    def report(self) -> TalkerOutcome | None: ...

    async def aclose(self) -> None: ...


class CommandAware(Protocol):
    async def on_command(self, command: CallCommand) -> None: ...


@dataclass(frozen=True, slots=True)
class DialPlan:
    """Where the call goes: built by the initiator from DialSettings."""

    channel: str
    context: str
    exten: str
    ring_timeout: float
    caller_id: str
    audiosocket_address: str
    transfer_context: str = "opendeep-transfer"
    transfer_template: str = ""


@dataclass(slots=True)
class CallResult:
    call_id: str
    status: CallStatus
    outcome: str
    answered: bool = False
    hangup_cause: int | None = None
    hangup_cause_text: str | None = None
    duration_seconds: float | None = None
    end_reason: str = ""
    facts: dict[str, Any] = field(default_factory=dict)
    summary: str = ""


@dataclass(frozen=True, slots=True)
class _Ending:
    """How the call ended, read once so the row and the CallResult say the same thing."""

    status: CallStatus
    outcome: str
    end_reason: str
    duration: float | None
    hangup: ami_events.Hangup | None

    @property
    def cause(self) -> int | None:
        return self.hangup.cause if self.hangup else None

    @property
    def cause_txt(self) -> str | None:
        return self.hangup.cause_txt if self.hangup else None


class CallAttempt:
    """Follows one originated call to its end; `run()` returns how it ended."""

    def __init__(
        self,
        *,
        call_id: str,
        metadata: CallMetadata,
        plan: DialPlan,
        ami: AmiClient,
        audio_server: AudioSocketServer,
        bus: CommandBus,
        recorder: CallRecorder,
        talker: PreparedTalker,
    ) -> None:
        self.call_id = call_id
        self.metadata = metadata
        self.plan = plan
        self.ami, self.audio_server, self.bus = ami, audio_server, bus
        self.recorder = recorder
        self.talker = talker
        self.tracker = ami_outcomes.OutcomeTracker()
        self.answered_at: float | None = None
        self.hangup: ami_events.Hangup | None = None
        self.transferred = False
        self._hangup_requested = False
        self._failure_deadline: float | None = None
        self._ring_deadline = 0.0
        self._owner = TaskOwner(call_id)

    async def run(self) -> CallResult:
        bind_context(
            call_id=self.call_id, user_id=self.metadata.user_id, task_id=self.metadata.task_id
        )
        events = self.ami.subscribe(self.call_id)
        try:
            expected = self.audio_server.expect(self.call_id, self.talker, self.metadata)
            return await self._run(events, expected)
        except asyncio.CancelledError:
            await self._hangup_now("shutdown")
            with contextlib.suppress(Exception):
                await asyncio.shield(self._finish_interrupted())
            raise
        except Exception:  # whatever broke, nobody may be left on an open line
            log.exception("call handler failed")
            await self._hangup_now("handler_error")
            return await self._finish(CallStatus.FAILED, "failed", "handler_error")
        finally:
            await self._owner.aclose(timeout=1.0)
            self.ami.unsubscribe(self.call_id)
            self.audio_server.forget(self.call_id)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.talker.aclose(), 2.0)

    async def _run(self, events: CallEvents, expected: ExpectedCall) -> CallResult:
        async with self.bus.subscribe(self.call_id) as commands:
            if not await self._originate():
                return await self._finish(CallStatus.FAILED, "failed", "originate_refused")
            self._owner.spawn(self._run_commands(commands), "commands")
            end_reason = await self._follow(events, expected)
            return await self._conclude(end_reason)

    async def _originate(self) -> bool:
        variables = {"CALL_ID": self.call_id, "AUDIOSOCKET_ADDR": self.plan.audiosocket_address}
        await self.recorder.event("originated", {"channel": self.plan.channel})
        try:
            await self.ami.originate(
                self.call_id,
                self.plan.channel,
                self.plan.context,
                self.plan.exten,
                timeout_ms=int(self.plan.ring_timeout * 1000),
                caller_id=self.plan.caller_id,
                variables=variables,
            )
        except AmiReplyLost as exc:  # the phone may be ringing: follow it, never re-dial
            log.warning("originate unconfirmed; following the call", extra={"error": str(exc)})
            await self.recorder.event("originate_unconfirmed", {"error": str(exc)})
        except AmiError as exc:
            log.warning("originate refused", extra={"error": str(exc)})
            await self.recorder.event("originate_failed", {"error": str(exc)})
            return False
        return True

    async def _follow(self, events: CallEvents, expected: ExpectedCall) -> str:
        """Wait for the first of: the channel's Hangup, the audio session ending, no answer."""
        audio_end = self._owner.spawn(expected.ended(), "audio-end")
        self._ring_deadline = time.monotonic() + self.plan.ring_timeout + 10
        while True:
            next_event = self._owner.spawn(events.get(self._wait_time()), "ami-event")
            await asyncio.wait({next_event, audio_end}, return_when=asyncio.FIRST_COMPLETED)
            if next_event.done():
                over = await self._handle(next_event)
                if over:
                    return over
            if audio_end.done():
                await cancel_and_wait(next_event)
                return await self._after_audio_end(events, audio_end.result())

    def _wait_time(self) -> float:
        if self._failure_deadline is None:
            return LIVENESS_INTERVAL
        return max(0.01, min(LIVENESS_INTERVAL, self._failure_deadline - time.monotonic()))

    async def _handle(self, next_event: asyncio.Task[ami_events.AmiEvent]) -> str | None:
        """Apply the next AMI event (or its absence); a reason when the call is over."""
        try:
            event = next_event.result()
        except TimeoutError:
            return await self._on_quiet()
        if await self._on_event(event):
            return "local_hangup" if self._hangup_requested else "far_end_hangup"
        if self.tracker.waiting_for_hangup and self._failure_deadline is None:
            self._failure_deadline = time.monotonic() + FAILURE_GRACE
        return None

    async def _on_quiet(self) -> str | None:
        now = time.monotonic()
        if self._failure_deadline is not None and now >= self._failure_deadline:
            self.tracker.give_up()
            return "not_answered"
        if await self._channel_gone():
            return "channel_gone"
        if self.answered_at is None and now > self._ring_deadline:
            await self._hangup_now("no_originate_response")
            return "no_originate_response"
        return None

    async def _on_event(self, event: ami_events.AmiEvent) -> bool:
        """Apply one AMI event of this call; True on its Hangup."""
        self.tracker.feed(event)
        if isinstance(event, ami_events.Newstate):
            await self._on_newstate(event)
        elif isinstance(event, ami_events.Hangup):
            self.hangup = event
            await self.recorder.event(
                "hangup", {"cause": event.cause, "cause_txt": event.cause_txt}
            )
            return True
        elif isinstance(event, ami_events.DtmfEnd) and event.direction.lower() == "received":
            await self.recorder.event("dtmf_received", {"digit": event.digit})
        elif isinstance(event, ami_events.UserEvent) and event.is_named("OpenDeepAMD"):
            await self.recorder.update(amd_status=event.field("Status"))
        return False

    async def _on_newstate(self, event: ami_events.Newstate) -> None:
        if event.state == 5:
            await self.recorder.update(status=CallStatus.RINGING, channel=event.channel)
            await self.recorder.event("ringing", {})
        elif event.is_up and self.answered_at is None:
            self.answered_at = time.monotonic()
            await self.recorder.update(
                status=CallStatus.ANSWERED, answered_at=datetime.now(UTC), channel=event.channel
            )
            await self.recorder.event("answered", {})

    async def _after_audio_end(self, events: CallEvents, reason: EndReason) -> str:
        """The talker or socket ended first: make sure Asterisk hangs up, then collect cause."""
        await self.recorder.event("audio_ended", {"reason": str(reason)})
        if reason is EndReason.FORGOTTEN or self.hangup is not None:
            return str(reason)
        if not self.transferred:
            await self._hangup_now(str(reason))
        deadline = time.monotonic() + (HANGUP_WAIT if not self.transferred else TRANSFER_MAX)
        while time.monotonic() < deadline:
            try:
                event = await events.get(min(LIVENESS_INTERVAL, deadline - time.monotonic()))
            except TimeoutError:
                if await self._channel_gone():
                    break
                continue
            if await self._on_event(event):
                break
        return str(reason)

    async def _channel_gone(self) -> bool:
        """With no events for a while (say, AMI reconnected and missed the Hangup), ask."""
        if not self.ami.connected:
            return False
        try:
            await self.ami.getvar(self.call_id, "CHANNEL(state)")
        except AmiActionFailed:
            await self.recorder.event("channel_gone", {})
            return True
        except AmiError:
            return False
        return False

    async def _hangup_now(self, reason: str) -> None:
        if self._hangup_requested or self.hangup is not None:
            return
        self._hangup_requested = True
        with contextlib.suppress(AmiError):
            await self.ami.hangup(self.call_id)
        log.info("hangup requested", extra={"reason": reason})

    async def _run_commands(self, commands: CommandSubscription) -> None:
        async for command in commands:
            try:
                await self._execute(command)
            except (AmiError, ValueError) as exc:  # one bad command never ends the loop
                log.warning("command failed", extra={"command": command.type, "error": str(exc)})
                await self.recorder.event("command_failed", {"command": command.type})

    async def _execute(self, command: CallCommand) -> None:
        match command:
            case SendDtmf():
                await self.ami.play_dtmf(self.call_id, command.digits)
                await self.recorder.event("dtmf_sent", {"digits": command.digits})
            case Hangup():
                await self.recorder.event("hangup_requested", {"reason": command.reason})
                await self._hangup_now(command.reason)
            case Transfer():
                await self._transfer(command.target)
            case FeedbackAnswer():
                if hasattr(self.talker, "on_command"):
                    await self.talker.on_command(command)

    async def _transfer(self, target: str) -> None:
        """Blind transfer: the callee's channel leaves the agent for the transfer context."""
        dial = self.plan.transfer_template.format(number=dial_digits(target))
        await self.ami.setvar(self.call_id, "TRANSFER_DIAL", dial)
        # Set before the redirect: the AudioSocket leg ends as soon as Asterisk moves the
        # channel, and that end must not be taken for a reason to hang up.
        self.transferred = True
        try:
            await self.ami.redirect(self.call_id, self.plan.transfer_context, "s", 1)
        except AmiError:
            self.transferred = False
            raise
        await self.recorder.event("transfer", {"target": target})

    async def _conclude(self, end_reason: str) -> CallResult:
        if self.answered_at is None:
            dial_outcome = self.tracker.outcome or self.tracker.give_up()
            status = (
                CallStatus(str(dial_outcome)) if dial_outcome != "answered" else CallStatus.FAILED
            )
            return await self._finish(status, str(status), end_reason)
        report = self.talker.report()
        outcome = "transferred" if self.transferred else (report.outcome if report else None)
        status = CallStatus.AI_FAILURE if outcome == "ai_failure" else CallStatus.COMPLETED
        return await self._finish(status, outcome or "completed", end_reason, report)

    async def _finish(
        self,
        status: CallStatus,
        outcome: str,
        end_reason: str,
        report: TalkerOutcome | None = None,
    ) -> CallResult:
        """Close the calls row, then tell the caller (the scheduler) how the call went."""
        duration = None if self.answered_at is None else time.monotonic() - self.answered_at
        ended = _Ending(status, outcome, end_reason, duration, self.hangup)
        await self._write_final_row(ended, report)
        log.info(
            "call ended",
            extra={
                "status": str(status),
                "outcome": outcome,
                "end_reason": end_reason,
                "cause": ended.cause,
            },
        )
        return self._result(ended, report)

    async def _write_final_row(self, ended: _Ending, report: TalkerOutcome | None) -> None:
        """The closing write, retried: a row left in progress would look like a live call."""
        extra: dict[str, Any] = {}
        if report is not None:
            extra = {
                "summary": report.summary or None,
                "facts": report.facts or None,
                "latency_ms": report.latency_ms or None,
            }
        await self.recorder.update(
            attempts=FINAL_WRITE_ATTEMPTS,
            status=ended.status,
            outcome=ended.outcome,
            ended_at=datetime.now(UTC),
            duration_seconds=ended.duration,
            hangup_cause=ended.cause,
            hangup_cause_text=ended.cause_txt,
            **extra,
        )

    def _result(self, ended: _Ending, report: TalkerOutcome | None) -> CallResult:
        return CallResult(
            self.call_id,
            ended.status,
            ended.outcome,
            answered=self.answered_at is not None,
            hangup_cause=ended.cause,
            hangup_cause_text=ended.cause_txt,
            duration_seconds=ended.duration,
            end_reason=ended.end_reason,
            facts=dict(report.facts) if report else {},
            summary=report.summary if report else "",
        )

    async def _finish_interrupted(self) -> None:
        status = CallStatus.INTERRUPTED
        await asyncio.wait_for(self._finish(status, "interrupted", "shutdown"), 2.0)


def dial_digits(number: str) -> str:
    """The digits of an E.164 number for a dial string; anything else is refused.

    Why strict: the number lands inside an Asterisk channel string, where '&', '/', ','
    or a newline would dial something else or inject AMI headers.
    """
    digits = number.removeprefix("+")
    if not digits.isdigit() or not 3 <= len(digits) <= 20 or not digits.isascii():
        raise ValueError("a phone number must be + and 3 to 20 digits")
    return digits
