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
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from audio_processing.audio_socket_server import AudioSocketServer
from audio_processing.call_audio import CallMetadata, CallTalker, EndReason
from audio_processing.expected_call import ExpectedCall
from audio_processing.talker_result import TalkerResult
from call_processor.ami import events as ami_events
from call_processor.ami import outcomes as ami_outcomes
from call_processor.ami.call_events import CallEvents
from call_processor.ami.client import AmiClient
from call_processor.ami.errors import AmiActionFailed, AmiError, AmiReplyLost
from call_processor.call_records import CallRecorder
from call_processor.finished_call import EndedBy, FinishedCall, NotPlaced, outcome_label
from call_processor.live_listen import ListenTap
from common.command_bus import CommandBus, CommandSubscription
from common.commands import (
    PERSON_HANGUP,
    CallCommand,
    FeedbackAnswer,
    Hangup,
    Listen,
    SendDtmf,
    Transfer,
)
from common.log_context import bind_context
from common.owned_tasks import TaskOwner, cancel_and_wait
from common.phone_numbers import dial_digits
from database.states import CallStatus

log = logging.getLogger(__name__)

HANGUP_WAIT = 5.0  # after we asked Asterisk to hang up, how long to wait for its Hangup event
FAILURE_GRACE = 2.0  # a failed OriginateResponse precedes the Hangup that carries the cause
LIVENESS_INTERVAL = 15.0  # with no AMI event for this long, ask Asterisk if the channel exists
# The closing write of the calls row is retried this long: the task's lease (the
# scheduler's SCHEDULER_LEASE); past it, any process's lifecycle sweep closes the row.
FINAL_WRITE_WITHIN = 120.0
TRANSFER_MAX = 4 * 3600.0  # a transferred call is followed (slot held) until it hangs up


class PreparedTalker(CallTalker, Protocol):
    """A talker made before dialing (e.g. a pre-warmed realtime session)."""

    def result(self) -> TalkerResult | None:
        """What it adds to the calls row once it is done; None if it never ran."""
        ...

    async def on_command(self, command: CallCommand) -> None:
        """A command for the talker (a person's FeedbackAnswer) from the call's channel."""
        ...

    async def aclose(self) -> None: ...


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
    detect_machine: bool = False  # run Asterisk's AMD() before the agent speaks
    # chan_websocket client (websocket_client.conf) instead of AudioSocket(); None: AudioSocket
    media_websocket_client: str | None = None
    recording_file: str | None = None  # MixMonitor's file on the Asterisk host (recordings.py)


class CallAttempt:
    """Follows one originated call to its end; `run()` closes the calls row and returns
    the FinishedCall read from it."""

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
        self.amd_status: str | None = None
        self.transferred = False
        self._hangup_reason: str | None = None  # why we asked Asterisk to hang up, if we did
        self._failure_deadline: float | None = None
        self._ring_deadline = 0.0
        self._owner = TaskOwner(call_id)
        self._listen: ListenTap | None = None

    @property
    def channel_ref(self) -> str:
        """What AMI names the channel by: its Uniqueid, which for a call we originate is
        the call id (docs/protocols.md, Originate)."""
        return self.call_id

    async def run(self) -> FinishedCall:
        bind_context(
            call_id=self.call_id, user_id=self.metadata.user_id, task_id=self.metadata.task_id
        )
        try:
            events, expected = self._attach()
            return await self._run(events, expected)
        except asyncio.CancelledError:
            await self._hangup_now("shutdown")
            with contextlib.suppress(Exception):
                await asyncio.shield(self._finish_interrupted())
            raise
        except Exception:  # whatever broke, nobody may be left on an open line
            log.exception("call handler failed")
            await self._hangup_now("handler_error")
            return await self._finish(CallStatus.FAILED, "handler_error")
        finally:
            await self._owner.aclose(timeout=1.0)
            self.ami.unsubscribe(self.channel_ref)
            self.audio_server.forget(self.call_id)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.talker.aclose(), 2.0)

    def _attach(self) -> tuple[CallEvents, ExpectedCall]:
        """Follow the channel's AMI events; let its AudioSocket connection attach."""
        events = self.ami.subscribe(self.channel_ref)
        return events, self.audio_server.expect(self.call_id, self.talker, self.metadata)

    async def _run(self, events: CallEvents, expected: ExpectedCall) -> FinishedCall:
        self._listen = ListenTap(self.call_id, expected, self.bus, self._owner)
        async with self.bus.subscribe(self.call_id) as commands:
            if not await self._connect():
                return await self._finish(CallStatus.FAILED, NotPlaced.ORIGINATE_REFUSED)
            self._owner.spawn(self._run_commands(commands), "commands")
            end_reason = await self._follow(events, expected)
            return await self._conclude(end_reason)

    async def _connect(self) -> bool:
        """Reach the far end; False when the call could not even be placed."""
        return await self._originate()

    async def _originate(self) -> bool:
        variables = {"CALL_ID": self.call_id, "AUDIOSOCKET_ADDR": self.plan.audiosocket_address}
        if self.plan.detect_machine:
            variables["OPENDEEP_AMD"] = "1"  # the dialplan runs AMD() and reports a UserEvent
        if self.plan.recording_file:
            variables["OPENDEEP_RECORD"] = self.plan.recording_file  # MixMonitor, both sides
        if self.plan.media_websocket_client:  # Dial(WebSocket/...), docs/protocols.md
            variables["OPENDEEP_MEDIA"] = "websocket"
            variables["OPENDEEP_MEDIA_CONNECTION"] = self.plan.media_websocket_client
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
            next_event = self._owner.spawn(self._next_event(events), "ami-event")
            await asyncio.wait({next_event, audio_end}, return_when=asyncio.FIRST_COMPLETED)
            if next_event.done():
                over = await self._handle(next_event)
                if over:
                    if self.answered_at is not None and not expected.attached:
                        await self._media_never_connected()
                    return over
            if audio_end.done():
                await cancel_and_wait(next_event)
                return await self._after_audio_end(events, audio_end.result())

    async def _media_never_connected(self) -> None:
        """Answered, then over before Asterisk connected the call's media to us: on
        chan_websocket a client entry missing or pointing elsewhere does exactly this
        (Dial fails after its retries, cause 3; docs/protocols.md, Media WebSocket)."""
        client = self.plan.media_websocket_client
        via = (
            f"chan_websocket client {client} (websocket_client.conf)"
            if client
            else f"AudioSocket to {self.plan.audiosocket_address}"
        )
        log.warning("answered call ended before its media connected; check the %s", via)
        await self.recorder.event("media_not_connected", {"via": via})

    async def _next_event(self, events: CallEvents) -> ami_events.AmiEvent | None:
        """The call's next AMI event; None when there was none for a while. Quiet is
        normal on a long call (a question to the person, a hold), so it must not end the
        owned task with an error that the owner logs as a failure every 15 s."""
        try:
            return await events.get(self._wait_time())
        except TimeoutError:
            return None

    def _wait_time(self) -> float:
        if self._failure_deadline is None:
            return LIVENESS_INTERVAL
        return max(0.01, min(LIVENESS_INTERVAL, self._failure_deadline - time.monotonic()))

    async def _handle(self, next_event: asyncio.Task[ami_events.AmiEvent | None]) -> str | None:
        """Apply the next AMI event (or its absence); a reason when the call is over."""
        event = next_event.result()
        if event is None:
            return await self._on_quiet()
        if await self._on_event(event):
            return self._hangup_reason or EndReason.FAR_END_HANGUP
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
            self.amd_status = event.field("Status")
            await self.recorder.update(amd_status=self.amd_status)
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
        asked = self._hangup_reason  # set: the audio ended because we had asked for a hangup
        if reason is EndReason.FORGOTTEN or self.hangup is not None:
            return asked or str(reason)
        if not self.transferred:
            await self._hangup_now(str(reason))
        deadline = time.monotonic() + (HANGUP_WAIT if not self.transferred else TRANSFER_MAX)
        hung_up = False
        while not hung_up and time.monotonic() < deadline:
            try:
                event = await events.get(min(LIVENESS_INTERVAL, deadline - time.monotonic()))
            except TimeoutError:
                if await self._channel_gone():
                    break
                continue
            hung_up = await self._on_event(event)
        if self.transferred and hung_up:  # the transferred call's own end, not the agent's
            return self._hangup_reason or EndReason.FAR_END_HANGUP
        return asked or str(reason)

    async def _channel_gone(self) -> bool:
        """With no events for a while (say, AMI reconnected and missed the Hangup), ask."""
        if not self.ami.connected:
            return False
        try:
            await self.ami.getvar(self.channel_ref, "CHANNEL(state)")
        except AmiActionFailed:
            await self.recorder.event("channel_gone", {})
            return True
        except AmiError:
            return False
        return False

    async def _hangup_now(self, reason: str) -> None:
        if self._hangup_reason is not None or self.hangup is not None:
            return
        self._hangup_reason = reason
        with contextlib.suppress(AmiError):
            await self.ami.hangup(self.channel_ref)
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
                await self.ami.play_dtmf(self.channel_ref, command.digits)
                await self.recorder.event("dtmf_sent", {"digits": command.digits})
            case Hangup():
                await self.recorder.event("hangup_requested", {"reason": command.reason})
                person = command.reason == PERSON_HANGUP  # the row says the person ended it
                await self._hangup_now(PERSON_HANGUP if person else "hangup_command")
            case Transfer():
                await self._transfer(command.target)
            case FeedbackAnswer():
                await self.talker.on_command(command)
            case Listen():
                if self._listen is not None:
                    self._listen.extend(command.seconds)

    async def _transfer(self, target: str) -> None:
        """Blind transfer: the callee's channel leaves the agent for the transfer context."""
        dial = self.plan.transfer_template.format(number=dial_digits(target))
        await self.ami.setvar(self.channel_ref, "TRANSFER_DIAL", dial)
        # Set before the redirect: the AudioSocket leg ends as soon as Asterisk moves the
        # channel, and that end must not be taken for a reason to hang up.
        self.transferred = True
        try:
            await self.ami.redirect(self.channel_ref, self.plan.transfer_context, "s", 1)
        except AmiError:
            self.transferred = False
            raise
        await self.recorder.event("transfer", {"target": target})

    async def _conclude(self, end_reason: str) -> FinishedCall:
        if self.answered_at is None:
            dial_outcome = self.tracker.outcome or self.tracker.give_up()
            status = (
                CallStatus(str(dial_outcome)) if dial_outcome != "answered" else CallStatus.FAILED
            )
            return await self._finish(status, end_reason)
        talker = self.talker.result()
        failed = talker is not None and talker.reason.is_failure and not self.transferred
        status = CallStatus.AI_FAILURE if failed else CallStatus.COMPLETED
        return await self._finish(status, end_reason, talker)

    async def _finish(
        self, status: CallStatus, end_reason: str, talker: TalkerResult | None = None
    ) -> FinishedCall:
        """Close the calls row; what the caller (the scheduler) hears is read from it."""
        row = await self.recorder.close(
            within=FINAL_WRITE_WITHIN,
            **self._closing_columns(status, end_reason, talker),
            **_talker_columns(talker),
        )
        if row is None:  # the database refused every attempt: the row still looks live
            finished = FinishedCall.without_row(self.call_id, CallStatus.INTERRUPTED, end_reason)
        else:
            finished = FinishedCall.from_row(row)
        log.info(
            "call ended",
            extra={
                "status": str(finished.status),
                "outcome": finished.outcome,
                "end_reason": end_reason,
                "ended_by": str(finished.ended_by),
                "cause": finished.hangup_cause,
            },
        )
        return finished

    def _closing_columns(
        self, status: CallStatus, end_reason: str, talker: TalkerResult | None
    ) -> dict[str, Any]:
        """What the call's handler itself knows of the ending (the talker adds its part)."""
        duration = None if self.answered_at is None else time.monotonic() - self.answered_at
        return {
            "status": status,
            "outcome": outcome_label(status, self.transferred, talker),
            "end_reason": end_reason,
            "ended_by": str(EndedBy.of(end_reason, talker)),
            "ended_at": datetime.now(UTC),
            "duration_seconds": duration,
            "hangup_cause": self.hangup.cause if self.hangup else None,
            "hangup_cause_text": self.hangup.cause_txt if self.hangup else None,
            "transferred": self.transferred,
            "amd_status": self.amd_status,
        }

    async def _finish_interrupted(self) -> None:
        await asyncio.wait_for(self._finish(CallStatus.INTERRUPTED, "shutdown"), 2.0)


def _talker_columns(talker: TalkerResult | None) -> dict[str, Any]:
    """What the talker adds to the row (facts are not here: the tool host stores them)."""
    if talker is None:
        return {}
    return {
        "agent_outcome": None if talker.agent_outcome is None else str(talker.agent_outcome),
        "summary": talker.summary or None,
        "latency_ms": list(talker.latency_ms) or None,
        "agent_audio_generated_ms": talker.agent_audio_generated_ms,
        "agent_audio_played_ms": talker.agent_audio_played_ms,
        "answered_by": None if talker.answered_by is None else str(talker.answered_by),
        "message_left": talker.message_left,
        "hold_seconds": talker.hold_ms / 1000 if talker.hold_ms else None,
    }
