"""The call initiator: MAX_CONCURRENT_CALLS, the calls row, and one CallAttempt per call.

Why it owns every call's asyncio task: shutdown must hang up every call in progress and
write its state, and a call must hold its concurrency slot from before Originate until the
channel is gone, whoever asked for the call (the scheduler, a test call from the web).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from audio_processing.audio_socket_server import AudioSocketServer
from audio_processing.call_audio import CallMetadata
from call_processor.ami.client import AmiClient
from call_processor.call_attempt import FINAL_WRITE_WITHIN, CallAttempt, DialPlan, PreparedTalker
from call_processor.call_records import CallRecorder
from call_processor.call_slots import CallSlots
from call_processor.finished_call import EndedBy, FinishedCall, NotPlaced
from call_processor.recordings import RecordingStore
from common.command_bus import CommandBus
from common.metrics import PlatformMetrics
from common.owned_tasks import TaskOwner
from common.phone_numbers import dial_digits
from config.settings import DialSettings
from database.repositories import calls, dnd
from database.states import CallStatus

log = logging.getLogger(__name__)

SHUTDOWN_REPORT = 2.0  # seconds a cancelled call may spend telling the task engine


@dataclass(frozen=True, slots=True)
class CallRequest:
    """One attempt to reach one number for one user (and usually one task)."""

    user_id: int
    phone_number: str  # E.164, validated again here before it reaches a dial string
    task_id: int | None = None
    attempt_number: int = 1
    context: Mapping[str, Any] = field(default_factory=dict)  # for the talker's instructions
    detect_machine: bool = False  # answering-machine detection (AMD) before the agent speaks
    record: bool = False  # Asterisk records both sides (call_processor/recordings.py)


class TalkerFactory(Protocol):
    """Makes what talks on a call, before dialing (so a realtime session can pre-warm)."""

    async def prepare(self, request: CallRequest, call_id: str) -> PreparedTalker: ...


OnCallDone = Callable[[CallRequest, FinishedCall], Awaitable[None]]


class CallInitiator:
    def __init__(
        self,
        *,
        ami: AmiClient,
        audio_server: AudioSocketServer,
        bus: CommandBus,
        slots: CallSlots,
        sessions: async_sessionmaker[AsyncSession],
        dial: DialSettings,
        audiosocket_address: str,
        node_id: str,
        talkers: TalkerFactory,
        metrics: PlatformMetrics | None = None,
        recordings: RecordingStore | None = None,
        media_websocket_client: str | None = None,
    ) -> None:
        self.ami, self.audio_server, self.bus, self.slots = ami, audio_server, bus, slots
        self.sessions = sessions
        self.dial = dial
        self.audiosocket_address = audiosocket_address
        self.media_websocket_client = media_websocket_client
        self.node_id = node_id
        self.talkers = talkers
        self.metrics = metrics or PlatformMetrics()
        self.recordings = recordings
        self._owner = TaskOwner("calls")
        self._active: set[str] = set()

    async def start(self) -> None:
        self._owner = TaskOwner("calls")

    def launch(self, request: CallRequest, on_done: OnCallDone | None = None) -> None:
        """Place a call in the background; `on_done(request, finished)` runs when it ends."""
        self._owner.spawn(self._place_then(request, on_done), f"call:{request.task_id}")

    async def _place_then(self, request: CallRequest, on_done: OnCallDone | None) -> None:
        """Whatever happens, `on_done` hears of it: a launched call that reported nothing
        would leave its task in progress and its capacity taken for good."""
        call_id = str(uuid.uuid4())
        try:
            finished = await self._place(request, call_id)
        except asyncio.CancelledError:  # shutdown: the task is rescheduled now, not later
            if on_done is not None:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(SHUTDOWN_REPORT):
                        await on_done(request, await self._interrupted(request, call_id))
            raise
        except Exception as exc:  # a bad number, no slot (Redis down): no calls row
            log.warning("call not placed", extra={"call_id": call_id, "error": repr(exc)})
            finished = FinishedCall.without_row(None, CallStatus.FAILED, NotPlaced.NOT_PLACED)
        if on_done is not None:
            await on_done(request, finished)

    async def _place(self, request: CallRequest, call_id: str) -> FinishedCall:
        digits = dial_digits(request.phone_number)  # refuse before taking a slot
        if await self._on_dnd(request):
            log.warning("number on a do-not-call list; not dialed", extra={"call_id": call_id})
            return FinishedCall.without_row(None, CallStatus.FAILED, NotPlaced.DO_NOT_CALL)
        slot = await self.slots.acquire(call_id)
        self._active.add(call_id)
        self.metrics.calls_active.inc()
        try:
            finished = await self._attempt(request, call_id, digits)
        finally:
            self._active.discard(call_id)
            self.metrics.calls_active.dec()
            await slot.release()
        self.metrics.calls_total.labels(finished.outcome).inc()
        return finished

    async def _attempt(self, request: CallRequest, call_id: str, digits: str) -> FinishedCall:
        recorder = CallRecorder(self.sessions, request.user_id, call_id, self.bus)
        await recorder.create(
            phone_number=request.phone_number,
            task_id=request.task_id,
            attempt_number=request.attempt_number,
            node_id=self.node_id,
        )
        try:
            talker = await self.talkers.prepare(request, call_id)
        except Exception as exc:  # no agent, no call: never ring someone we cannot talk to
            log.warning(
                "talker not ready; call not placed", extra={"call_id": call_id, "error": str(exc)}
            )
            return await talker_not_ready(recorder, call_id)
        attempt = CallAttempt(
            call_id=call_id,
            metadata=self._metadata(request, call_id),
            plan=self._plan(
                digits,
                request.detect_machine or self.dial.asterisk_amd,
                self._recording_file(request, call_id),
            ),
            ami=self.ami,
            audio_server=self.audio_server,
            bus=self.bus,
            recorder=recorder,
            talker=talker,
        )
        return await attempt.run()

    async def _interrupted(self, request: CallRequest, call_id: str) -> FinishedCall:
        """A call cut by shutdown, as its row says when the row was closed (so whether it
        was answered counts: an answered call's attempt is used)."""
        async with self.sessions() as s:
            row = await calls.get(s, user_id=request.user_id, call_id=call_id)
        if row is not None and CallStatus(row.status).is_final:
            return FinishedCall.from_row(row)
        return FinishedCall.without_row(call_id, CallStatus.INTERRUPTED, "shutdown")

    async def _on_dnd(self, request: CallRequest) -> bool:
        """Checked again here, whoever asked for the call: the scheduler checks at claim
        time, but an entry added since (the callee opted out on another call) must win."""
        async with self.sessions() as s:
            return await dnd.is_blocked(
                s, user_id=request.user_id, phone_number=request.phone_number
            )

    def _metadata(self, request: CallRequest, call_id: str) -> CallMetadata:
        return CallMetadata(
            call_id=call_id,
            user_id=str(request.user_id),
            task_id=None if request.task_id is None else str(request.task_id),
        )

    def _recording_file(self, request: CallRequest, call_id: str) -> str | None:
        if not request.record:
            return None
        if self.recordings is None:
            log.warning("recording asked for but not set up", extra={"call_id": call_id})
            return None
        return self.recordings.expect(call_id, request.user_id)

    def _plan(self, digits: str, detect_machine: bool, recording_file: str | None) -> DialPlan:
        return DialPlan(
            channel=self.dial.channel_template.format(number=digits),
            context=self.dial.context,
            exten=self.dial.exten,
            ring_timeout=self.dial.ring_timeout,
            caller_id=self.dial.caller_id,
            audiosocket_address=self.audiosocket_address,
            transfer_template=self.dial.channel_template,
            detect_machine=detect_machine,
            recording_file=recording_file,
            media_websocket_client=self.media_websocket_client,
        )

    async def stop(self, grace: float = 4.0) -> None:
        """Hang up every call in progress (each writes its final state), within `grace`."""
        active = len(self._active)
        cancelled = await self._owner.aclose(timeout=grace)
        log.info("call initiator stopped", extra={"calls_ended": active, "tasks": cancelled})


async def talker_not_ready(recorder: CallRecorder, call_id: str) -> FinishedCall:
    """The row is closed as an AI failure before anyone was dialed."""
    row = await recorder.close(
        within=FINAL_WRITE_WITHIN,
        status=CallStatus.AI_FAILURE,
        outcome=str(CallStatus.AI_FAILURE),
        end_reason=NotPlaced.NOT_PLACED,
        ended_by=str(EndedBy.PLATFORM),
        ended_at=datetime.now(UTC),
    )
    if row is None:
        return FinishedCall.without_row(call_id, CallStatus.AI_FAILURE, NotPlaced.NOT_PLACED)
    return FinishedCall.from_row(row)
