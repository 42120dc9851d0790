"""The call talker: caller audio to the Realtime model and the model's voice back.

Why this shape (livekit's "send loop + receive loop"): one asyncio task moves caller
frames to `input_audio_buffer.append`, one reads model events; whichever finishes first
(caller hung up, end_call, the model failed) ends the rest, and the session is closed.
The model sends audio faster than real time, so it goes into the call's playout queue
tagged with its item id; on barge-in the queue is flushed and the item truncated at the
milliseconds actually played (docs/protocols.md, Realtime). Tools run beside the audio
(tool_dispatch), the reply latency is timed at the playout queue (latency), and the items
the agent spoke are counted in agent_speech; what the talker adds to the call's row when
it ends is a TalkerResult.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import logging
from collections.abc import AsyncGenerator, Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from openai.resources.realtime.realtime import AsyncRealtimeConnection
from websockets.exceptions import ConnectionClosed

from audio_processing.call_audio import CallAudio
from audio_processing.call_turns import Turn, TurnSink
from audio_processing.realtime.agent_speech import AgentSpeech
from audio_processing.realtime.audio import ModelAudio, with_silence
from audio_processing.realtime.events import (
    AgentTranscript,
    AudioDelta,
    CallerTranscript,
    ErrorEvent,
    FunctionCall,
    RealtimeProtocolError,
    ResponseCreated,
    ResponseDone,
    ServerEvent,
    SpeechStarted,
    SpeechStopped,
    function_output_item,
    parse_server_event,
    user_text_item,
)
from audio_processing.realtime.latency import LatencyProbe
from audio_processing.realtime.session import RealtimeSession, RealtimeSessionError, sdk_item
from audio_processing.realtime.tool_dispatch import ToolDispatcher
from audio_processing.realtime.tools import ToolHost
from audio_processing.talker_result import TalkerEnd, TalkerResult
from common.call_outcomes import AgentOutcome
from common.log_context import log_context
from common.owned_tasks import TaskOwner

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class BridgeOptions:
    stall_timeout: float = 10.0  # no event for this long while a response is expected
    greet: bool = True  # response.create at once: the agent speaks first
    input_batch_frames: int = 2  # 20 ms caller frames per input_audio_buffer.append
    ready_timeout: float = 10.0  # waiting for a session that is still opening
    send_timeout: float = 5.0
    tool_timeout: float = 120.0
    drain_timeout: float = 30.0  # goodbye audio still playing when end_call arrives
    silence_fill_after: float | None = 0.1  # no caller frame this long: send silence (None: off)


# input_audio_buffer.append, 50 times a second per call, built by hand: the SDK's send()
# validates every event against its whole union of event types, which was about a third of
# the platform's CPU per call in the benchmark profile. Base64 needs no JSON escaping.
_APPEND_HEAD = '{"type":"input_audio_buffer.append","audio":"'
_APPEND_TAIL = '"}'


class _ModelGone(Exception):
    """The socket closed or a send could not complete in time."""


# --- the talker ------------------------------------------------------------------------
class RealtimeBridge:
    """Implements CallTalker for one call; read `result` after `run()` returns."""

    def __init__(
        self,
        session: RealtimeSession,
        tools: ToolHost,
        sink: TurnSink | None = None,
        options: BridgeOptions | None = None,
    ) -> None:
        self.session = session
        self.sink = sink
        self.options = options or BridgeOptions()
        self.result: TalkerResult | None = None
        self.errors: list[ErrorEvent] = []
        self.latency = LatencyProbe(sink)
        self.speech = AgentSpeech()
        self.tools = ToolDispatcher(
            tools,
            self._deliver_output,
            self._after_tools,
            timeout=self.options.tool_timeout,
            name=f"{session.name}:tools",
        )
        self._conn: AsyncRealtimeConnection | None = None
        self._codec: ModelAudio | None = None
        self._speech_started: dict[str, datetime] = {}
        self._response_active = False
        self._awaiting_since: float | None = None
        self._last_event = 0.0

    async def run(self, audio: CallAudio) -> None:
        call_id = audio.metadata.call_id
        with log_context(call_id=call_id):
            self.result = await self._run(audio, TaskOwner(f"{call_id}:bridge"))
            log.info("talker ended", extra={"reason": str(self.result.reason)})

    async def _run(self, audio: CallAudio, owner: TaskOwner) -> TalkerResult:
        try:
            async with asyncio.timeout(self.options.ready_timeout):
                conn = self._conn = await self.session.ready()
            fmt = self.session.config["audio"]["output"]["format"]
            self._codec = ModelAudio(fmt, audio.metadata.sample_rate)
            if self.options.greet:
                await self._request_response()
            ended = await self._first_to_finish(audio, conn, owner)
        except (TimeoutError, RealtimeSessionError) as exc:
            log.warning("realtime session unavailable", extra={"error": str(exc)})
            ended = TalkerResult(TalkerEnd.SESSION_FAILED)
        except _ModelGone:
            ended = TalkerResult(TalkerEnd.MODEL_CLOSED)
        except Exception:
            log.exception("realtime bridge failed")
            ended = TalkerResult(TalkerEnd.BRIDGE_ERROR)
        finally:
            await self.tools.aclose()
            await owner.aclose(timeout=2.0)
            await self.session.aclose()
        if ended.reason is not TalkerEnd.CALLER_HANGUP:
            audio.hangup()
        return self._completed(ended, audio)

    def _completed(self, ended: TalkerResult, audio: CallAudio) -> TalkerResult:
        """The result with what was measured along the way: latencies, audio totals."""
        generated, played = self.speech.totals(audio)
        return dataclasses.replace(
            ended,
            latency_ms=tuple(round(ms, 1) for ms in self.latency.latencies_ms),
            agent_audio_generated_ms=generated,
            agent_audio_played_ms=played,
        )

    async def _first_to_finish(
        self, audio: CallAudio, conn: AsyncRealtimeConnection, owner: TaskOwner
    ) -> TalkerResult:
        owner.spawn(self._pump_dtmf(audio, conn), name="dtmf")
        racers = [
            owner.spawn(self._pump_caller(audio, conn), name="caller"),
            owner.spawn(self._pump_model(audio, conn), name="model"),
        ]
        done, _ = await asyncio.wait(racers, return_when=asyncio.FIRST_COMPLETED)
        first = done.pop()
        failure = first.exception()
        if failure is not None:
            raise failure
        return first.result()

    # -- sending ----------------------------------------------------------------------------
    async def _send(self, sending: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout(self.options.send_timeout):
                return await sending
        except (TimeoutError, ConnectionClosed) as exc:
            raise _ModelGone(type(exc).__name__) from exc

    async def _request_response(self) -> None:
        assert self._conn is not None
        self.tools.responded()
        self._expect_response()
        await self._send(self._conn.response.create())

    def _expect_response(self) -> None:
        if self._awaiting_since is None:
            self._awaiting_since = asyncio.get_running_loop().time()

    # -- caller → model ---------------------------------------------------------------------
    async def _pump_caller(self, audio: CallAudio, conn: AsyncRealtimeConnection) -> TalkerResult:
        assert self._codec is not None
        batch, frames = bytearray(), 0
        try:
            async with contextlib.aclosing(self._caller_frames(audio)) as caller:
                async for frame in caller:
                    batch += self._codec.to_model(frame)
                    frames += 1
                    if frames >= self.options.input_batch_frames:
                        b64 = base64.b64encode(batch).decode("ascii")
                        event = _APPEND_HEAD + b64 + _APPEND_TAIL  # a text frame, like send()
                        batch, frames = bytearray(), 0
                        await self._send(conn.send_raw(event))
        except _ModelGone:
            return TalkerResult(TalkerEnd.MODEL_CLOSED)
        return TalkerResult(TalkerEnd.CALLER_HANGUP)

    def _caller_frames(self, audio: CallAudio) -> AsyncGenerator[bytes, None]:
        return with_silence(audio, self.options.silence_fill_after)

    async def _pump_dtmf(self, audio: CallAudio, conn: AsyncRealtimeConnection) -> None:
        """Keys the callee pressed become context for the model (digits only in fields)."""
        async for digit in audio.dtmf():
            log.info("callee pressed a key", extra={"digit": digit})
            item = user_text_item(f"[The callee pressed the key {digit} on their keypad.]")
            try:
                await self._send(conn.conversation.item.create(item=sdk_item(item)))
            except _ModelGone:
                return

    # -- model → caller ---------------------------------------------------------------------
    async def _pump_model(self, audio: CallAudio, conn: AsyncRealtimeConnection) -> TalkerResult:
        loop = asyncio.get_running_loop()
        self._last_event = loop.time()
        while True:
            try:
                raw = await self._next_message(conn)
            except ConnectionClosed:
                log.warning("realtime socket closed")
                return TalkerResult(TalkerEnd.MODEL_CLOSED)
            if raw is None:
                log.warning(
                    "realtime model stalled", extra={"timeout_s": self.options.stall_timeout}
                )
                return TalkerResult(TalkerEnd.MODEL_STALLED)
            self._last_event = loop.time()
            try:
                event = parse_server_event(raw)
            except RealtimeProtocolError as exc:
                log.warning("unreadable realtime event skipped", extra={"error": str(exc)})
                continue
            try:
                ended = await self._on_event(event, audio, conn)
            except _ModelGone:
                return TalkerResult(TalkerEnd.MODEL_CLOSED)
            if ended is not None:
                return ended

    async def _next_message(self, conn: AsyncRealtimeConnection) -> bytes | None:
        """The next raw message, or None once a response is overdue by `stall_timeout`."""
        loop = asyncio.get_running_loop()
        while True:
            since = max(self._last_event, self._awaiting_since or self._last_event)
            left = self.options.stall_timeout - (loop.time() - since)
            if self._awaiting_since is not None and left <= 0:
                return None
            wait = left if self._awaiting_since is not None else self.options.stall_timeout
            try:
                async with asyncio.timeout(wait):
                    return await conn.recv_bytes()  # the SDK says cancelling recv is safe
            except TimeoutError:
                continue

    async def _on_event(
        self, event: ServerEvent, audio: CallAudio, conn: AsyncRealtimeConnection
    ) -> TalkerResult | None:
        if isinstance(event, AudioDelta):
            self._on_audio(event, audio)
        elif isinstance(event, SpeechStarted):
            await self._on_barge_in(event, audio, conn)
        elif isinstance(event, SpeechStopped):
            self._on_speech_stopped(event)
        elif isinstance(event, ResponseCreated):
            self._response_active = True
        elif isinstance(event, ResponseDone):
            self._response_active = False
            self._awaiting_since = None
            await self._maybe_respond()
        elif isinstance(event, FunctionCall):
            return await self._on_function_call(event, audio)
        elif isinstance(event, AgentTranscript | CallerTranscript):
            self._on_transcript(event)
        elif isinstance(event, ErrorEvent):
            self.errors.append(event)
            log.warning(
                "realtime error event",
                extra={"code": event.code, "error_type": event.kind, "param": event.param},
            )
        return None

    def _on_audio(self, event: AudioDelta, audio: CallAudio) -> None:
        assert self._codec is not None
        if self.speech.add(event.item_id, len(event.audio) / self._codec.bytes_per_ms):
            self.latency.reply_started(event.item_id, audio)
        audio.enqueue(self._codec.from_model(event.audio), mark=event.item_id)

    async def _on_barge_in(
        self, event: SpeechStarted, audio: CallAudio, conn: AsyncRealtimeConnection
    ) -> None:
        """Stop talking now, and tell the model how much of its item the callee heard."""
        assert self._codec is not None
        self._speech_started[event.item_id] = datetime.now(UTC)
        dropped_ms = audio.flush()
        self._codec.reset_output()
        item = self.speech.current
        if item is None:
            return
        received = self.speech.generated_ms(item)
        played = min(audio.played_ms(item), received)
        if played >= received and dropped_ms == 0:
            return  # the whole item was heard: nothing to truncate
        log.info("barge-in", extra={"played_ms": played, "dropped_ms": dropped_ms})
        await self._send(
            conn.conversation.item.truncate(item_id=item, content_index=0, audio_end_ms=played)
        )
        self.speech.current = None

    def _on_speech_stopped(self, event: SpeechStopped) -> None:
        self.latency.turn_ended()
        self._expect_response()  # server VAD creates the reply itself
        self._speech_started.setdefault(event.item_id, datetime.now(UTC))

    def _on_transcript(self, event: AgentTranscript | CallerTranscript) -> None:
        if isinstance(event, AgentTranscript):
            started = self.speech.started_at(event.item_id)
            turn = Turn("agent", event.transcript, event.item_id, started, datetime.now(UTC))
        else:
            started = self._speech_started.pop(event.item_id, None)
            turn = Turn("callee", event.transcript, event.item_id, started, datetime.now(UTC))
        if self.sink is not None:
            self.sink.on_turn(turn)

    # -- tools ------------------------------------------------------------------------------
    async def _on_function_call(self, call: FunctionCall, audio: CallAudio) -> TalkerResult | None:
        log.info("model called a tool", extra={"tool": call.name})
        if call.name == "end_call":
            return await self._end_call(call, audio)
        self.tools.dispatch(call)
        return None

    async def _deliver_output(self, call_id: str, output: str) -> bool:
        """A tool's output to the model; False when its socket is gone (the call ends)."""
        assert self._conn is not None
        item = function_output_item(call_id, output)
        try:
            await self._send(self._conn.conversation.item.create(item=sdk_item(item)))
        except _ModelGone:
            return False
        return True

    async def _after_tools(self) -> None:
        with contextlib.suppress(_ModelGone):  # the model loop sees the socket and ends
            await self._maybe_respond()

    async def _maybe_respond(self) -> None:
        """One response.create after all outputs of a response are in and it is done."""
        if self.tools.wants_response and not self._response_active:
            await self._request_response()

    async def _end_call(self, call: FunctionCall, audio: CallAudio) -> TalkerResult:
        """Let the goodbye finish playing, then end the call with the model's verdict."""
        try:
            async with asyncio.timeout(self.options.drain_timeout):
                await audio.drained()
        except TimeoutError:
            log.warning("goodbye audio did not drain in time")
        args = call.arguments
        return TalkerResult(
            TalkerEnd.END_CALL,
            agent_outcome=AgentOutcome.parse(args.get("outcome")),
            summary=str(args.get("summary") or ""),
        )
