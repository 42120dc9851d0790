"""The call talker: caller audio to the Realtime model and the model's voice back.

Why this shape (livekit's "send loop + receive loop"): one asyncio task moves caller
frames to `input_audio_buffer.append`, one reads model events; whichever finishes first
(caller hung up, end_call, the model failed) ends the rest, and the session is closed.
The model sends audio faster than real time, so it goes into the call's playout queue
tagged with its item id; on barge-in the queue is flushed and the item truncated at the
milliseconds actually played (PROTOCOLS.md §4.3). Tools run in their own asyncio tasks so
a slow one (a question for the person) never stops audio or barge-in.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import AsyncGenerator, Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, TypeVar

from openai.resources.realtime.realtime import AsyncRealtimeConnection
from websockets.exceptions import ConnectionClosed

from audio_processing.call_audio import CallAudio
from audio_processing.call_turns import Turn, TurnSink
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
from audio_processing.realtime.session import RealtimeSession, RealtimeSessionError, sdk_item
from audio_processing.realtime.tools import ToolHost
from common.log_context import log_context
from common.owned_tasks import TaskOwner

log = logging.getLogger(__name__)
T = TypeVar("T")


# --- options and result (its ToolHost is in realtime_tools, its TurnSink in call_turns) ---
@dataclass
class BridgeResult:
    """How the talker ended. `outcome` is the call state; `agent_outcome` comes from end_call."""

    outcome: Literal["completed", "ai_failure"]
    reason: str  # caller_hangup | end_call | model_closed | model_stalled | session_failed
    agent_outcome: str | None = None
    summary: str = ""
    facts: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BridgeOptions:
    stall_timeout: float = 10.0  # no event for this long while a response is expected
    greet: bool = True  # response.create at once: the agent speaks first
    input_batch_frames: int = 2  # 20 ms caller frames per input_audio_buffer.append
    ready_timeout: float = 10.0  # waiting for a session that is still opening
    send_timeout: float = 5.0
    tool_timeout: float = 120.0
    drain_timeout: float = 30.0  # goodbye audio still playing when end_call arrives
    latency_probe_timeout: float = 10.0
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
        self.tools = tools
        self.sink = sink
        self.options = options or BridgeOptions()
        self.result: BridgeResult | None = None
        self.latencies_ms: list[float] = []
        self.errors: list[ErrorEvent] = []
        self.facts: dict[str, str] = {}
        self._owner: TaskOwner | None = None
        self._conn: AsyncRealtimeConnection | None = None
        self._audio: CallAudio | None = None
        self._codec: ModelAudio | None = None
        self._item_ms: dict[str, float] = {}
        self._item_started: dict[str, datetime] = {}
        self._speech_started: dict[str, datetime] = {}
        self._current_item: str | None = None
        self._response_active = False
        self._awaiting_since: float | None = None
        self._last_event = 0.0
        self._needs_response = False
        self._tools_running = 0
        self._turn_ended_at: float | None = None

    async def run(self, audio: CallAudio) -> None:
        call_id = audio.metadata.call_id
        with log_context(call_id=call_id):
            self.result = await self._run(audio, TaskOwner(f"{call_id}:bridge"))
            log.info(
                "talker ended", extra={"outcome": self.result.outcome, "reason": self.result.reason}
            )

    async def _run(self, audio: CallAudio, owner: TaskOwner) -> BridgeResult:
        self._owner, self._audio = owner, audio
        try:
            async with asyncio.timeout(self.options.ready_timeout):
                conn = self._conn = await self.session.ready()
            fmt = self.session.config["audio"]["output"]["format"]
            self._codec = ModelAudio(fmt, audio.metadata.sample_rate)
            if self.options.greet:
                await self._request_response()
            result = await self._first_to_finish(audio, conn, owner)
        except (TimeoutError, RealtimeSessionError) as exc:
            log.warning("realtime session unavailable", extra={"error": str(exc)})
            result = BridgeResult("ai_failure", "session_failed")
        except _ModelGone:
            result = BridgeResult("ai_failure", "model_closed")
        except Exception:
            log.exception("realtime bridge failed")
            result = BridgeResult("ai_failure", "bridge_error")
        finally:
            await owner.aclose(timeout=2.0)
            await self.session.aclose()
        if result.reason != "caller_hangup":
            audio.hangup()
        result.facts = {**self.facts, **result.facts}
        return result

    async def _first_to_finish(
        self, audio: CallAudio, conn: AsyncRealtimeConnection, owner: TaskOwner
    ) -> BridgeResult:
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
        self._needs_response = False
        self._expect_response()
        await self._send(self._conn.response.create())

    def _expect_response(self) -> None:
        if self._awaiting_since is None:
            self._awaiting_since = asyncio.get_running_loop().time()

    # -- caller → model ---------------------------------------------------------------------
    async def _pump_caller(self, audio: CallAudio, conn: AsyncRealtimeConnection) -> BridgeResult:
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
            return BridgeResult("ai_failure", "model_closed")
        return BridgeResult("completed", "caller_hangup")

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
    async def _pump_model(self, audio: CallAudio, conn: AsyncRealtimeConnection) -> BridgeResult:
        loop = asyncio.get_running_loop()
        self._last_event = loop.time()
        while True:
            try:
                raw = await self._next_message(conn)
            except ConnectionClosed:
                log.warning("realtime socket closed")
                return BridgeResult("ai_failure", "model_closed")
            if raw is None:
                log.warning(
                    "realtime model stalled", extra={"timeout_s": self.options.stall_timeout}
                )
                return BridgeResult("ai_failure", "model_stalled")
            self._last_event = loop.time()
            try:
                event = parse_server_event(raw)
            except RealtimeProtocolError as exc:
                log.warning("unreadable realtime event skipped", extra={"error": str(exc)})
                continue
            try:
                ended = await self._on_event(event, audio, conn)
            except _ModelGone:
                return BridgeResult("ai_failure", "model_closed")
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
    ) -> BridgeResult | None:
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
            return await self._on_function_call(event, audio, conn)
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
        item = event.item_id
        if item not in self._item_ms:
            self._item_ms[item] = 0.0
            self._item_started[item] = datetime.now(UTC)
            self._probe_latency(item, audio)
        self._current_item = item
        self._item_ms[item] += len(event.audio) / self._codec.bytes_per_ms
        audio.enqueue(self._codec.from_model(event.audio), mark=item)

    async def _on_barge_in(
        self, event: SpeechStarted, audio: CallAudio, conn: AsyncRealtimeConnection
    ) -> None:
        """Stop talking now, and tell the model how much of its item the callee heard."""
        assert self._codec is not None
        self._speech_started[event.item_id] = datetime.now(UTC)
        dropped_ms = audio.flush()
        self._codec.reset_output()
        item = self._current_item
        if item is None:
            return
        received = int(self._item_ms.get(item, 0))
        played = min(audio.played_ms(item), received)
        if played >= received and dropped_ms == 0:
            return  # the whole item was heard: nothing to truncate
        log.info("barge-in", extra={"played_ms": played, "dropped_ms": dropped_ms})
        await self._send(
            conn.conversation.item.truncate(item_id=item, content_index=0, audio_end_ms=played)
        )
        self._current_item = None

    def _on_speech_stopped(self, event: SpeechStopped) -> None:
        self._turn_ended_at = asyncio.get_running_loop().time()
        self._expect_response()  # server VAD creates the reply itself
        self._speech_started.setdefault(event.item_id, datetime.now(UTC))

    def _on_transcript(self, event: AgentTranscript | CallerTranscript) -> None:
        if isinstance(event, AgentTranscript):
            turn = Turn(
                "agent",
                event.transcript,
                event.item_id,
                self._item_started.get(event.item_id),
                datetime.now(UTC),
            )
        else:
            started = self._speech_started.pop(event.item_id, None)
            turn = Turn("callee", event.transcript, event.item_id, started, datetime.now(UTC))
        if self.sink is not None:
            self.sink.on_turn(turn)

    # -- latency --------------------------------------------------------------------------
    def _probe_latency(self, item: str, audio: CallAudio) -> None:
        """Speech stopped → first frame of the reply actually written (polled, 5 ms steps).

        Why polling: the playout queue has no per-mark "first frame" callback (yet).
        """
        ended, self._turn_ended_at = self._turn_ended_at, None
        if ended is not None and self._owner is not None:
            self._owner.spawn(self._measure(item, ended, audio), name=f"latency:{item}")

    async def _measure(self, item: str, ended: float, audio: CallAudio) -> None:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.options.latency_probe_timeout):
                while audio.played_ms(item) == 0:  # noqa: ASYNC110 - no callback to wait on
                    await asyncio.sleep(0.005)
        except TimeoutError:
            return
        latency = (loop.time() - ended) * 1000
        self.latencies_ms.append(latency)
        if self.sink is not None:
            self.sink.on_latency(latency)

    # -- tools ------------------------------------------------------------------------------
    async def _on_function_call(
        self, call: FunctionCall, audio: CallAudio, conn: AsyncRealtimeConnection
    ) -> BridgeResult | None:
        log.info("model called a tool", extra={"tool": call.name})
        if call.name == "end_call":
            return await self._end_call(call, audio)
        if call.name == "record_fact" and not call.arguments_error:
            self.facts[str(call.arguments.get("key", ""))] = str(call.arguments.get("value", ""))
        assert self._owner is not None
        self._tools_running += 1
        self._owner.spawn(self._run_tool(call, conn), name=f"tool:{call.name}")
        return None

    async def _run_tool(self, call: FunctionCall, conn: AsyncRealtimeConnection) -> None:
        try:
            output = await self._tool_output(call)
            item = function_output_item(call.call_id, output)
            await self._send(conn.conversation.item.create(item=sdk_item(item)))
            self._needs_response = True
        except _ModelGone:
            return  # the model loop sees the closed socket and ends the call
        finally:
            self._tools_running -= 1
        with contextlib.suppress(_ModelGone):
            await self._maybe_respond()

    async def _tool_output(self, call: FunctionCall) -> str:
        if call.arguments_error:
            return f"error: {call.arguments_error}"
        try:
            async with asyncio.timeout(self.options.tool_timeout):
                return await self.tools.call_tool(call.name, call.arguments)
        except TimeoutError:
            log.warning("tool timed out", extra={"tool": call.name})
            return "error: the tool did not answer in time"
        except Exception as exc:
            log.warning("tool failed", extra={"tool": call.name}, exc_info=True)
            return f"error: {type(exc).__name__}"

    async def _maybe_respond(self) -> None:
        """One response.create after all outputs of a response are in and it is done."""
        if self._needs_response and not self._response_active and self._tools_running == 0:
            await self._request_response()

    async def _end_call(self, call: FunctionCall, audio: CallAudio) -> BridgeResult:
        """Let the goodbye finish playing, then end the call with the model's verdict."""
        try:
            async with asyncio.timeout(self.options.drain_timeout):
                await audio.drained()
        except TimeoutError:
            log.warning("goodbye audio did not drain in time")
        args = call.arguments
        return BridgeResult(
            "completed",
            "end_call",
            agent_outcome=str(args.get("outcome") or "") or None,
            summary=str(args.get("summary") or ""),
        )
