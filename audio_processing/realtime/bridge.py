"""The call talker: caller audio to the Realtime model and the model's voice back.

Why this shape (livekit's "send loop + receive loop"): one asyncio task moves caller
frames to `input_audio_buffer.append`, one reads model events; whichever finishes first
(caller hung up, end_call, a machine, the model failed) ends the rest, and the session is
closed. The model sends audio faster than real time, so it goes into the call's playout
queue tagged with its item id; on barge-in the queue is flushed and the item truncated at
the milliseconds actually played (docs/protocols.md, Realtime).

The bridge asks for every response itself (`create_response: false`): the callee speaks
first and the agent answers their first pause (or greets after `greet_after` of silence);
it stays quiet while on hold (hold_mode) or in front of a machine (voicemail_mode), as a
CalleeWatch listening to every caller frame tells it (docs/protocols.md, Answering
machines, beeps and hold). Tools run beside the audio (tool_dispatch), the reply latency is
timed at the playout queue (latency), agent turns are stored as heard (heard_turns); what
the talker adds to the call's row when it ends is a TalkerResult.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from openai.resources.realtime.realtime import AsyncRealtimeConnection
from websockets.exceptions import ConnectionClosed

from audio_processing.call_audio import CallAudio, first_batch
from audio_processing.call_turns import Turn, TurnSink
from audio_processing.realtime.agent_speech import AgentSpeech
from audio_processing.realtime.audio import CallerFrames, ModelAudio
from audio_processing.realtime.callee_modes import CalleeHandling, CalleeModes
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
from audio_processing.realtime.heard_turns import HeardTurns
from audio_processing.realtime.latency import LatencyProbe
from audio_processing.realtime.model_link import ModelGone, ModelLink
from audio_processing.realtime.session import RealtimeSession, RealtimeSessionError
from audio_processing.realtime.stall import ModelStall, is_model_output
from audio_processing.realtime.tool_dispatch import ToolDispatcher
from audio_processing.realtime.tools import ToolHost
from audio_processing.talker_result import TalkerEnd, TalkerResult
from common.call_outcomes import AgentOutcome
from common.log_context import log_context
from common.owned_tasks import TaskOwner

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BridgeOptions:
    stall_timeout: float = 10.0  # a response was asked for and the model produced nothing
    greet_after: float | None = 2.0  # the callee silent this long: greet (0: at once, None: never)
    input_batch_frames: int = 5  # 20 ms caller frames per append (OPENAI_INPUT_BATCH_FRAMES)
    ready_timeout: float = 10.0  # waiting for a session that is still opening
    send_timeout: float = 5.0
    tool_timeout: float = 120.0
    drain_timeout: float = 30.0  # goodbye audio still playing when end_call arrives
    transfer_wait: float = 10.0  # the announcement before a transfer plays out, at most this
    beep_wait: float = 5.0  # the model reported voicemail: how long a beep may take
    silence_fill_after: float | None = 0.1  # no caller frame this long: send silence (None: off)


# --- the talker ------------------------------------------------------------------------
class RealtimeBridge:
    """Implements CallTalker for one call; read `result` after `run()` returns."""

    def __init__(
        self,
        session: RealtimeSession,
        tools: ToolHost,
        sink: TurnSink | None = None,
        options: BridgeOptions | None = None,
        handling: CalleeHandling | None = None,
    ) -> None:
        self.session = session
        self.sink = sink
        self.options = options or BridgeOptions()
        self.result: TalkerResult | None = None
        self.errors: list[ErrorEvent] = []
        self.latency = LatencyProbe(sink)
        self.speech = AgentSpeech()
        self.turns = HeardTurns(sink, self.speech)
        self.stall = ModelStall(self.options.stall_timeout)
        self.tools = ToolDispatcher(
            tools,
            self._deliver_output,
            self._after_tools,
            timeout=self.options.tool_timeout,
            name=f"{session.name}:tools",
        )
        self.callee = CalleeModes(
            handling or CalleeHandling(),
            sink,
            greet_after=self.options.greet_after,
            beep_wait=self.options.beep_wait,
            silence=self._silence_agent,
        )
        self._link: ModelLink | None = None
        self._codec: ModelAudio | None = None
        self._speech_started: dict[str, datetime] = {}

    @property
    def link(self) -> ModelLink:
        assert self._link is not None, "the model link exists once the session is ready"
        return self._link

    async def run(self, audio: CallAudio) -> None:
        call_id = audio.metadata.call_id
        with log_context(call_id=call_id):
            self.result = await self._run(audio, TaskOwner(f"{call_id}:bridge"))
            log.info("talker ended", extra={"reason": str(self.result.reason)})

    async def _run(self, audio: CallAudio, owner: TaskOwner) -> TalkerResult:
        try:
            async with asyncio.timeout(self.options.ready_timeout):
                conn = await self.session.ready()
            self._link = ModelLink(
                conn, self.stall, send_timeout=self.options.send_timeout,
                on_respond=self.tools.responded,
            )  # fmt: skip
            fmt = self.session.config["audio"]["output"]["format"]
            self._codec = ModelAudio(fmt, audio.metadata.sample_rate)
            if self._codec.ulaw and audio.metadata.sample_rate == 8000:
                self.callee.watch.keep_as_ulaw()  # half the memory, the same replay
            if self.options.greet_after == 0:
                await self.link.respond()
            ended = await self._first_to_finish(audio, conn, owner)
        except (TimeoutError, RealtimeSessionError) as exc:
            log.warning("realtime session unavailable", extra={"error": str(exc)})
            ended = TalkerResult(TalkerEnd.SESSION_FAILED)
        except ModelGone:
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
        """The result with what was measured along the way: latencies, audio, who answered."""
        callee = self.callee.result_fields(audio, self.speech)
        self.turns.close(audio)
        generated, played = self.speech.totals(audio)
        return dataclasses.replace(
            ended,
            latency_ms=tuple(round(ms, 1) for ms in self.latency.latencies_ms),
            agent_audio_generated_ms=generated,
            agent_audio_played_ms=played,
            **callee,
        )

    async def _first_to_finish(
        self, audio: CallAudio, conn: AsyncRealtimeConnection, owner: TaskOwner
    ) -> TalkerResult:
        owner.spawn(self._pump_dtmf(audio), name="dtmf")
        racers = [
            owner.spawn(self._pump_caller(audio), name="caller"),
            owner.spawn(self._pump_model(audio, conn), name="model"),
        ]
        done, _ = await asyncio.wait(racers, return_when=asyncio.FIRST_COMPLETED)
        first = done.pop()
        failure = first.exception()
        if failure is not None:
            raise failure
        return first.result()

    # -- caller → model ---------------------------------------------------------------------
    async def _pump_caller(self, audio: CallAudio) -> TalkerResult:
        """Caller frames to the callee detectors, and about `input_batch_frames` of them per
        append to the model; woken once per append (CallerFrames).

        An append holds what a run brought once the batch is due, so the appends follow the
        server's batched reads (each read is one batch) rather than cutting across them and
        holding the rest for a read later; a backlog goes in messages of two batches at
        most. The first batch is shorter by an amount of the call's own (first_batch).
        """
        codec = self._codec
        assert codec is not None
        per_append = self.options.input_batch_frames
        caller = self._caller_frames(audio)
        batch, frames = bytearray(), 0
        want = first_batch(audio.metadata.call_id, per_append)
        try:
            while (run := await caller.next(want - frames)) is not None:
                for frame in run:
                    if ended := await self.callee.on_frame(frame, self.link, audio, codec):
                        return ended
                    if not self.callee.listening:
                        continue
                    batch += codec.to_model(frame)
                    frames += 1
                    if frames >= 2 * per_append:
                        await self.link.append(bytes(batch))
                        batch, frames, want = bytearray(), 0, per_append
                if frames >= want:
                    await self.link.append(bytes(batch))
                    batch, frames, want = bytearray(), 0, per_append
        except ModelGone:
            return TalkerResult(TalkerEnd.MODEL_CLOSED)
        return TalkerResult(TalkerEnd.CALLER_HANGUP)

    def _caller_frames(self, audio: CallAudio) -> CallerFrames:
        return CallerFrames(audio, self.options.silence_fill_after)

    async def _pump_dtmf(self, audio: CallAudio) -> None:
        """Keys the callee pressed become context for the model (digits only in fields)."""
        async for digit in audio.dtmf():
            log.info("callee pressed a key", extra={"digit": digit})
            item = user_text_item(f"[The callee pressed the key {digit} on their keypad.]")
            try:
                await self.link.add_item(item)
            except ModelGone:
                return

    # -- model → caller ---------------------------------------------------------------------
    async def _pump_model(self, audio: CallAudio, conn: AsyncRealtimeConnection) -> TalkerResult:
        loop = asyncio.get_running_loop()
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
            try:
                event = parse_server_event(raw)
            except RealtimeProtocolError as exc:
                log.warning("unreadable realtime event skipped", extra={"error": str(exc)})
                continue
            if is_model_output(event):
                self.stall.output(loop.time())
            try:
                ended = await self._on_event(event, audio)
            except ModelGone:
                return TalkerResult(TalkerEnd.MODEL_CLOSED)
            if ended is not None:
                return ended

    async def _next_message(self, conn: AsyncRealtimeConnection) -> bytes | None:
        """The next raw message, or None once the model owes an answer `stall_timeout` long."""
        loop = asyncio.get_running_loop()
        while True:
            left = self.stall.left(loop.time())
            if left is not None and left <= 0:
                return None
            try:
                async with asyncio.timeout(left if left is not None else 60.0):
                    return await conn.recv_bytes()  # the SDK says cancelling recv is safe
            except TimeoutError:
                continue

    async def _on_event(self, event: ServerEvent, audio: CallAudio) -> TalkerResult | None:
        if isinstance(event, AudioDelta):
            self._on_audio(event, audio)
        elif isinstance(event, SpeechStarted):
            await self._on_barge_in(event, audio)
        elif isinstance(event, SpeechStopped):
            await self._on_speech_stopped(event)
        elif isinstance(event, ResponseCreated):
            self.link.response_active = True
            self.callee.voicemail.on_response_created(event.response_id)
        elif isinstance(event, ResponseDone):
            return await self._on_response_done(event, audio)
        elif isinstance(event, FunctionCall):
            return await self._on_function_call(event, audio)
        elif isinstance(event, AgentTranscript):
            self.turns.transcript(event.item_id, event.transcript, audio)
        elif isinstance(event, CallerTranscript):
            self._on_caller_transcript(event)
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
            self.callee.voicemail.on_audio(event.item_id)
        audio.enqueue(self._codec.from_model(event.audio), mark=event.item_id)

    async def _on_barge_in(self, event: SpeechStarted, audio: CallAudio) -> None:
        self._speech_started[event.item_id] = datetime.now(UTC)
        await self._silence_agent(audio)

    async def _silence_agent(self, audio: CallAudio) -> None:
        """Stop talking now, and tell the model how much of its item the callee heard."""
        assert self._codec is not None
        dropped_ms = audio.flush()
        self._codec.reset_output()
        item = self.speech.current
        if item is None:
            return
        received = self.speech.generated_ms(item)
        played = min(audio.played_ms(item), received)
        if played >= received and dropped_ms == 0:
            return  # the whole item was heard: nothing to truncate
        log.info("agent cut off", extra={"played_ms": played, "dropped_ms": dropped_ms})
        self.turns.cut(item, played)
        await self.link.truncate(item, played)
        self.speech.current = None

    async def _on_speech_stopped(self, event: SpeechStopped) -> None:
        """The callee paused: the agent answers (unless on hold, before a machine, or
        already answering)."""
        self.latency.turn_ended()
        self._speech_started.setdefault(event.item_id, datetime.now(UTC))
        if self.callee.may_answer() and not self.link.response_active:
            await self.link.respond()

    async def _on_response_done(self, event: ResponseDone, audio: CallAudio) -> TalkerResult | None:
        self.link.response_active = False
        self.stall.done(had_output=event.outputs > 0)
        if self.callee.voicemail.is_message(event.response_id):
            await self._drain(audio, self.options.drain_timeout)
            return self.callee.voicemail.ended(TalkerEnd.MACHINE)
        await self._maybe_respond()
        return None

    def _on_caller_transcript(self, event: CallerTranscript) -> None:
        started = self._speech_started.pop(event.item_id, None)
        turn = Turn("callee", event.transcript, event.item_id, started, datetime.now(UTC))
        if self.sink is not None:
            self.sink.on_turn(turn)

    # -- tools ------------------------------------------------------------------------------
    async def _on_function_call(self, call: FunctionCall, audio: CallAudio) -> TalkerResult | None:
        log.info("model called a tool", extra={"tool": call.name})
        if call.name == "end_call":
            return await self._end_call(call, audio)
        if call.name in ("report_voicemail", "report_on_hold"):
            ended, go_on = await self.callee.on_report(call, self.link, audio, self._deliver_output)
            if go_on:
                self.tools.answered()  # the model goes on once its response is done
            return ended
        if call.name == "transfer_to_user":  # only once the announcement has played
            self.tools.dispatch(call, before=lambda: self._drain(audio, self.options.transfer_wait))
        else:
            self.tools.dispatch(call)
        return None

    async def _deliver_output(self, call_id: str, output: str) -> bool:
        """A tool's output to the model; False when its socket is gone (the call ends)."""
        try:
            await self.link.add_item(function_output_item(call_id, output))
        except ModelGone:
            return False
        return True

    async def _after_tools(self) -> None:
        with contextlib.suppress(ModelGone):  # the model loop sees the socket and ends
            await self._maybe_respond()

    async def _maybe_respond(self) -> None:
        """One response.create after all outputs of a response are in and it is done."""
        if self.tools.wants_response and not self.link.response_active and self.callee.listening:
            await self.link.respond()

    async def _drain(self, audio: CallAudio, timeout: float) -> None:
        """Wait (at most `timeout`) until everything queued has played."""
        try:
            async with asyncio.timeout(timeout):
                await audio.drained()
        except TimeoutError:
            log.warning("agent audio did not finish playing in time")

    async def _end_call(self, call: FunctionCall, audio: CallAudio) -> TalkerResult:
        """Let the goodbye finish playing, then end the call with the model's verdict."""
        await self._drain(audio, self.options.drain_timeout)
        args = call.arguments
        return TalkerResult(
            TalkerEnd.END_CALL,
            agent_outcome=AgentOutcome.parse(args.get("outcome")),
            summary=str(args.get("summary") or ""),
        )
