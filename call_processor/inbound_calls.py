"""Inbound calls: people ringing back a number we called, answered in their task's context.

How a call arrives: the trunk sends it to `[opendeep-inbound]` (asterisk/extensions.conf),
which answers, makes a call id, announces it with a UserEvent and connects AudioSocket to
the address in the global OPENDEEP_AUDIOSOCKET, which this service sets at every AMI login
(`Setvar` without a channel: write=call allows it; docs/protocols.md, The OpenDeep AMI
user). Only ids announced on our AMI connection are registered with the AudioSocket
server, at once and synchronously (the connection may come first: the server holds it).

Why nothing costly happens before the connection reaches us: every process on the
Asterisk hears every announcement, but only the one named in OPENDEEP_AUDIOSOCKET (the last
to log in) receives the call; the others forget it when no connection comes. The process
that has it takes a call slot (none free within SLOT_WAIT: the caller is hung up on), then
routes the caller (caller_match.py): a call-back gets the AI agent with that one task's
brief and is stored as an inbound attempt on the task, judged by `on_done` like any call;
a caller nobody called is put through to the owner who asked for it, or hears
INBOUND_UNKNOWN_MESSAGE from a message-only agent and nothing is stored.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from audio_processing.audio_socket_server import AudioSocketServer
from audio_processing.call_audio import CallMetadata
from audio_processing.expected_call import ExpectedCall
from call_processor.ami.call_events import CallEvents
from call_processor.ami.client import AmiClient
from call_processor.ami.errors import AmiError
from call_processor.ami.events import UserEvent
from call_processor.ami.inbound_announcement import (
    INBOUND_EVENT,
    InboundAnnouncement,
    read_announcement,
)
from call_processor.call_attempt import DialPlan
from call_processor.call_initiator import CallRequest, OnCallDone, TalkerFactory, talker_not_ready
from call_processor.call_records import CallRecorder
from call_processor.call_slots import CallSlots, CallSlotsClosed, CallSlotsUnavailable, Slot
from call_processor.caller_match import CallBack, Forward, Route, route_caller
from call_processor.finished_call import FinishedCall
from call_processor.inbound_attempt import InboundAttempt, LineHolder
from call_processor.message_talker import MessageTalkers
from call_processor.pending_talker import PendingTalker
from common.command_bus import CommandBus
from common.log_context import bind_context
from common.metrics import PlatformMetrics
from common.owned_tasks import TaskOwner
from config.settings import DialSettings, InboundSettings
from database.states import CallDirection
from database.types import utcnow

log = logging.getLogger(__name__)

ROUTE_VARIABLE = "OPENDEEP_AUDIOSOCKET"  # the global [opendeep-inbound-call] connects to
ANNOUNCE_WAIT = 0.5  # the AudioSocket server holds an unannounced id this long
CONNECT_WAIT = 3.0  # an announced call's connection comes within ms, to one process
SLOT_WAIT = 2.0  # a caller waits this long for a free call slot, in silence
MESSAGE_MAX = 60.0  # an unknown caller's call ends by then, whatever the model does


@dataclass(frozen=True, slots=True)
class _Call:
    """One announced call: what was registered for it before anything was awaited."""

    announced: InboundAnnouncement
    events: CallEvents  # its channel's AMI events
    expected: ExpectedCall  # its AudioSocket registration
    pending: PendingTalker  # what the AudioSocket session runs until we know who talks


@dataclass(frozen=True, slots=True)
class InboundDeps:
    """What an inbound call needs from the platform (built by launcher/platform.py)."""

    ami: AmiClient
    audio_server: AudioSocketServer
    bus: CommandBus
    slots: CallSlots
    sessions: async_sessionmaker[AsyncSession]
    talkers: TalkerFactory
    messages: MessageTalkers
    dial: DialSettings
    audiosocket_address: str
    region: str
    node_id: str
    metrics: PlatformMetrics


class InboundCalls:
    def __init__(
        self, deps: InboundDeps, settings: InboundSettings, on_done: OnCallDone | None = None
    ) -> None:
        self.deps, self.settings, self.on_done = deps, settings, on_done
        self.route_published = False  # OPENDEEP_AUDIOSOCKET set on the current AMI connection
        self._owner = TaskOwner("inbound")
        self._stopping = False

    async def start(self) -> None:
        ami = self.deps.ami
        ami.add_state_listener(self._on_ami_state)
        ami.on_user_event(INBOUND_EVENT, self._on_announcement)
        if ami.connected:
            self._on_ami_state(True)

    async def stop(self, grace: float = 4.0) -> None:
        """Take no new call; hang up those in progress (each closes its row)."""
        self._stopping = True
        await self._owner.aclose(timeout=grace)

    # --- the route into this process --------------------------------------------------------
    def _on_ami_state(self, connected: bool) -> None:
        self.route_published = False
        if connected and not self._stopping:
            self._owner.spawn(self._publish_route(), "route")

    async def _publish_route(self) -> None:
        try:
            await self.deps.ami.setvar(None, ROUTE_VARIABLE, self.deps.audiosocket_address)
        except AmiError as exc:
            log.error("inbound calls cannot reach us: setting the route failed",
                      extra={"variable": ROUTE_VARIABLE, "error": str(exc)})  # fmt: skip
            return
        self.route_published = True
        log.info("inbound route set", extra={"address": self.deps.audiosocket_address})

    # --- one call ---------------------------------------------------------------------------
    def _on_announcement(self, event: UserEvent) -> None:
        """Synchronous on purpose: the call's AudioSocket connection is due any moment."""
        announced = read_announcement(event)
        if announced is None or self._stopping:
            log.warning("inbound announcement ignored", extra={"stopping": self._stopping})
            return
        events = self.deps.ami.subscribe(announced.channel_ref)  # its Hangup may follow at once
        pending = PendingTalker()
        try:
            meta = CallMetadata(call_id=announced.call_id)
            expected = self.deps.audio_server.expect(announced.call_id, pending, meta)
        except (ValueError, RuntimeError) as exc:  # a reused id, or the server stopping
            self.deps.ami.unsubscribe(announced.channel_ref)
            log.warning("inbound call not registered", extra={"error": str(exc)})
            return
        call = _Call(announced, events, expected, pending)
        self._owner.spawn(self._answer(call), f"call:{announced.call_id}")

    async def _answer(self, call: _Call) -> None:
        bind_context(call_id=call.announced.call_id)
        try:
            if await self._reached_us(call.expected):
                await self._with_slot(call)
        except Exception:
            self._count("failed")
            log.exception("inbound call failed")
        finally:
            call.pending.resolve(None)  # whatever did not get a talker ends now
            self.deps.ami.unsubscribe(call.announced.channel_ref)
            self.deps.audio_server.forget(call.announced.call_id)

    async def _reached_us(self, expected: ExpectedCall) -> bool:
        """False when its connection went to another process (or nowhere)."""
        try:
            async with asyncio.timeout(CONNECT_WAIT):
                return await expected.connected()
        except TimeoutError:
            return False

    async def _with_slot(self, call: _Call) -> None:
        slot = await self._slot(call.announced.call_id)
        if slot is None:
            self._count("no_slot")
            log.warning("inbound call refused: no free call slot")
            return
        metrics = self.deps.metrics
        metrics.calls_active.inc()
        try:
            since = utcnow() - timedelta(days=self.settings.match_days)
            route = await route_caller(
                self.deps.sessions,
                call.announced.caller_digits,
                region=self.deps.region,
                since=since,
            )
            await self._take(route, call)
        finally:
            metrics.calls_active.dec()
            await slot.release()

    async def _slot(self, call_id: str) -> Slot | None:
        try:
            return await self.deps.slots.acquire(call_id, timeout=SLOT_WAIT)
        except (TimeoutError, CallSlotsUnavailable, CallSlotsClosed):
            return None

    async def _take(self, route: Route, call: _Call) -> None:
        if isinstance(route, CallBack):
            self._count("callback")
            await self._call_back(route.request, call)
        elif isinstance(route, Forward):
            self._count("forwarded")
            request = CallRequest(user_id=route.user_id, phone_number=route.caller)
            recorder = await self._recorder(request, call.announced.call_id)
            call.pending.resolve(LineHolder())
            await self._follow(recorder, request, call, forward_to=route.owner_phone)
        else:
            self._count("message")
            await self._say_message(call)

    async def _call_back(self, request: CallRequest, call: _Call) -> None:
        """Their task's agent, stored as an inbound attempt on the task and judged."""
        call_id = call.announced.call_id
        recorder = await self._recorder(request, call_id)
        try:
            talker = await self.deps.talkers.prepare(request, call_id)
        except Exception as exc:  # no agent: the caller is hung up on, the row says why
            log.warning("talker not ready for an inbound call", extra={"error": str(exc)})
            call.pending.resolve(None)
            finished = await talker_not_ready(recorder, call_id)
        else:
            if not call.pending.resolve(talker):
                await talker.aclose()
            finished = await self._follow(recorder, request, call)
        if self.on_done is not None:
            await self.on_done(request, finished)

    async def _recorder(self, request: CallRequest, call_id: str) -> CallRecorder:
        recorder = CallRecorder(self.deps.sessions, request.user_id, call_id, self.deps.bus)
        await recorder.create(
            phone_number=request.phone_number,
            task_id=request.task_id,
            attempt_number=request.attempt_number,
            node_id=self.deps.node_id,
            direction=CallDirection.INBOUND,
        )
        return recorder

    async def _follow(
        self,
        recorder: CallRecorder,
        request: CallRequest,
        call: _Call,
        forward_to: str | None = None,
    ) -> FinishedCall:
        task_id = None if request.task_id is None else str(request.task_id)
        attempt = InboundAttempt(
            announcement=call.announced,
            events=call.events,
            expected=call.expected,
            forward_to=forward_to,
            metadata=CallMetadata(call.announced.call_id, str(request.user_id), task_id),
            plan=self._plan(),
            ami=self.deps.ami,
            audio_server=self.deps.audio_server,
            bus=self.deps.bus,
            recorder=recorder,
            talker=call.pending,  # what the AudioSocket session runs
        )
        finished = await attempt.run()
        self.deps.metrics.calls_total.labels(finished.outcome).inc()
        return finished

    def _plan(self) -> DialPlan:
        """Nothing is dialled; only a transfer uses the dial settings."""
        dial = self.deps.dial
        return DialPlan(
            channel="",
            context="",
            exten="",
            ring_timeout=dial.ring_timeout,
            caller_id=dial.caller_id,
            audiosocket_address=self.deps.audiosocket_address,
            transfer_template=dial.channel_template,
        )

    async def _say_message(self, call: _Call) -> None:
        """INBOUND_UNKNOWN_MESSAGE, then hang up; no row, no turns: the caller is nobody's."""
        talker = self.deps.messages.prepare(call.announced.call_id, self.settings.unknown_message)
        try:
            if not call.pending.resolve(talker):
                return
            try:
                async with asyncio.timeout(MESSAGE_MAX):
                    await call.expected.ended()
            except TimeoutError:
                if call.expected.audio is not None:
                    call.expected.audio.hangup()
        finally:
            await talker.aclose()

    def _count(self, handled: str) -> None:
        self.deps.metrics.inbound_calls.labels(handled).inc()
