"""One demo Realtime session: the GA WebSocket protocol around the scripted call agent.

Why the whole protocol and not a shortcut into the bridge: the demo must drive the product
exactly as the OpenAI Realtime service does (docs/protocols.md, Realtime (GA)), so the
real SDK connection, bridge, tools and turn writer run unchanged. The session hears the
callee by energy (like server VAD, with the pause from the session's turn_detection),
answers each burst of speech with an input transcription of that callee's next line,
and plays the agent's steps (audio deltas with a transcript, function calls) when the
bridge sends `response.create`. The transport is a pair of callables, so the protocol is
tested without a socket.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from audio_processing.g711 import Resampler, slin_to_ulaw, ulaw_to_slin
from common.owned_tasks import TaskOwner
from launcher.demo import voice
from launcher.demo.agent import ScriptedAgent, Step

log = logging.getLogger(__name__)
Send = Callable[[dict[str, Any]], Awaitable[None]]
SPEECH_RMS = 500.0  # a louder 20 ms window is speech
DEFAULT_PAUSE_MS = 500  # server VAD's silence_duration_ms when the session gives none
CHUNK_BYTES = 800  # 100 ms of μ-law per audio delta
CHUNK_INTERVAL = 0.01  # ten times faster than real time, like the real service
TURN_GAP = 1.2  # seconds of quiet the agent leaves between two things it says


class EnergyTurns:
    """Speech bursts in 8 kHz slin: `feed` returns ("started"|"stopped", audio ms) events."""

    def __init__(self, pause_ms: int = DEFAULT_PAUSE_MS) -> None:
        self.pause_ms = pause_ms
        self.audio_ms = 0
        self.speaking = False
        self._quiet_ms = 0
        self._rest = b""

    def feed(self, pcm: bytes) -> list[tuple[str, int]]:
        data = self._rest + pcm
        whole = len(data) - len(data) % voice.FRAME_BYTES
        self._rest = data[whole:]
        out: list[tuple[str, int]] = []
        for start in range(0, whole, voice.FRAME_BYTES):
            loud = voice.rms(data[start : start + voice.FRAME_BYTES]) >= SPEECH_RMS
            self.audio_ms += 20
            if loud and not self.speaking:
                self.speaking, self._quiet_ms = True, 0
                out.append(("started", self.audio_ms - 20))
            elif self.speaking:
                self._quiet_ms = 0 if loud else self._quiet_ms + 20
                if self._quiet_ms >= self.pause_ms:
                    self.speaking = False
                    out.append(("stopped", self.audio_ms - self._quiet_ms))
        return out


class DemoRealtimeSession:
    """Feed it every client event (`on_event`); it answers through `send`."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._ids = itertools.count(1)
        self.config: dict[str, Any] = {}
        self.agent: ScriptedAgent | None = None
        self.turns = EnergyTurns()
        self._turn = 0  # callee bursts heard so far
        self._speech_item = ""
        self._tool_names: dict[str, str] = {}  # call_id -> tool name
        self._feedback: str | None = None  # request_user_feedback's output, not yet answered
        self._owner = TaskOwner("demo-realtime")
        self._response: asyncio.Task[None] | None = None
        self._response_id = ""
        self._down = Resampler(24000, 8000)  # pcm input, for the energy detector
        self._quiet_from = 0.0  # (monotonic) when the agent's last words end on the line

    def _id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids)}"

    async def send(self, event: dict[str, Any]) -> None:
        event.setdefault("event_id", self._id("event"))
        await self._send(event)

    async def open(self) -> None:
        await self.send({"type": "session.created", "session": {"type": "realtime"}})

    async def aclose(self) -> None:
        await self._owner.aclose(timeout=1.0)

    async def on_event(self, raw: str) -> None:
        try:
            event = json.loads(raw)
        except ValueError:
            await self._error("invalid_json", "the event is not JSON")
            return
        kind = event.get("type") if isinstance(event, dict) else None
        handler = getattr(self, "_on_" + str(kind).replace(".", "_"), None)
        if handler is None:
            await self._error("unknown_event_type", f"Invalid value: '{kind}'")
            return
        await handler(event)

    async def _error(self, code: str, message: str) -> None:
        error = {"type": "invalid_request_error", "code": code, "message": message}
        await self.send({"type": "error", "error": error})

    # -- the session ----------------------------------------------------------------------
    async def _on_session_update(self, event: dict[str, Any]) -> None:
        session = event.get("session")
        if not isinstance(session, dict) or session.get("type") != "realtime":
            await self._error("missing_required_parameter", "session.type must be 'realtime'")
            return
        self.config = {**self.config, **session}
        if "instructions" in session:
            self.agent = ScriptedAgent(str(session["instructions"]))
        detection = self._input.get("turn_detection") or {}
        self.turns.pause_ms = int(detection.get("silence_duration_ms") or DEFAULT_PAUSE_MS)
        await self.send({"type": "session.updated", "session": self.config})

    @property
    def _input(self) -> dict[str, Any]:
        audio = self.config.get("audio") or {}
        return dict(audio.get("input") or {})

    def _format(self, side: str) -> str:
        audio = self.config.get("audio") or {}
        fmt = (audio.get(side) or {}).get("format") or {}
        return str(fmt.get("type", "audio/pcm"))

    # -- the callee's audio ---------------------------------------------------------------
    async def _on_input_audio_buffer_append(self, event: dict[str, Any]) -> None:
        try:
            audio = base64.b64decode(str(event.get("audio", "")), validate=True)
        except (binascii.Error, ValueError):
            await self._error("invalid_value", "audio is not base64")
            return
        if self._format("input") == "audio/pcmu":
            pcm = ulaw_to_slin(audio)
        else:
            pcm = self._down.convert(audio)
        for kind, at_ms in self.turns.feed(pcm):
            await (
                self._speech_started(at_ms) if kind == "started" else self._speech_stopped(at_ms)
            )

    async def _speech_started(self, at_ms: int) -> None:
        self._speech_item = self._id("item")
        await self.send(
            {
                "type": "input_audio_buffer.speech_started",
                "audio_start_ms": at_ms,
                "item_id": self._speech_item,
            }
        )
        if self._response is not None and not self._response.done():
            await self._cancel()  # the callee barged in

    async def _speech_stopped(self, at_ms: int) -> None:
        item_id = self._speech_item or self._id("item")
        await self.send(
            {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": at_ms, "item_id": item_id}
        )
        await self.send({"type": "input_audio_buffer.committed", "item_id": item_id})
        item = {"id": item_id, "type": "message", "role": "user", "content": []}
        await self.send({"type": "conversation.item.added", "item": item})
        turn, self._turn = self._turn, self._turn + 1
        said = self.agent.transcript(turn) if self.agent is not None else None
        if self.agent is None or said is None:
            return
        self.agent.heard(turn)
        if self._input.get("transcription"):
            await self.send(
                {
                    "type": "conversation.item.input_audio_transcription.completed",
                    "item_id": item_id,
                    "content_index": 0,
                    "transcript": said,
                }
            )

    async def _on_input_audio_buffer_commit(self, event: dict[str, Any]) -> None:
        await self.send({"type": "input_audio_buffer.committed", "item_id": self._id("item")})

    async def _on_input_audio_buffer_clear(self, event: dict[str, Any]) -> None:
        await self.send({"type": "input_audio_buffer.cleared"})

    # -- conversation items ---------------------------------------------------------------
    async def _on_conversation_item_create(self, event: dict[str, Any]) -> None:
        item = event.get("item")
        if not isinstance(item, dict):
            await self._error("missing_required_parameter", "Missing required parameter: 'item'.")
            return
        item = {"id": self._id("item"), **item}
        asked = self._tool_names.get(str(item.get("call_id")))
        if item.get("type") == "function_call_output" and asked == "request_user_feedback":
            self._feedback = str(item.get("output", ""))
        await self.send({"type": "conversation.item.added", "item": item})
        await self.send({"type": "conversation.item.done", "item": item})

    async def _on_conversation_item_truncate(self, event: dict[str, Any]) -> None:
        await self.send(
            {
                "type": "conversation.item.truncated",
                "item_id": event.get("item_id"),
                "content_index": event.get("content_index", 0),
                "audio_end_ms": event.get("audio_end_ms", 0),
            }
        )

    async def _on_conversation_item_delete(self, event: dict[str, Any]) -> None:
        await self.send({"type": "conversation.item.deleted", "item_id": event.get("item_id")})

    # -- responses ------------------------------------------------------------------------
    async def _on_response_create(self, event: dict[str, Any]) -> None:
        if self._response is not None and not self._response.done():
            await self._error("conversation_already_has_active_response", "a response is active")
            return
        params = event.get("response") or {}
        feedback, self._feedback = self._feedback, None
        step = Step()
        if self.agent is not None:
            step = self.agent.respond(
                instructions=str(params.get("instructions") or ""), feedback=feedback
            )
        self._response_id = self._id("resp")
        self._response = self._owner.spawn(self._play(self._response_id, step), "response")

    async def _on_response_cancel(self, event: dict[str, Any]) -> None:
        if self._response is None or self._response.done():
            await self._error("response_cancel_not_active", "no active response found")
            return
        await self._cancel()

    async def _cancel(self) -> None:
        task, self._response = self._response, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self._done(self._response_id, "cancelled", [])

    async def _done(self, response_id: str, status: str, output: list[Any]) -> None:
        response = {"id": response_id, "object": "realtime.response", "status": status}
        await self.send({"type": "response.done", "response": {**response, "output": output}})

    async def _play(self, response_id: str, step: Step) -> None:
        created = {"id": response_id, "status": "in_progress", "output": []}
        await self.send({"type": "response.created", "response": created})
        output: list[Any] = []
        if step.say:
            output.append(await self._say(response_id, len(output), step.say))
        if step.tool:
            output.append(await self._call(response_id, len(output), step.tool, step.args))
        self._response = None
        await self._done(response_id, "completed", output)

    def _agent_audio(self, text: str) -> bytes:
        pcm = voice.speech(text, seed=1)
        if self._format("output") == "audio/pcmu":
            return slin_to_ulaw(pcm)
        return Resampler(8000, 24000).convert(pcm)

    async def _say(self, response_id: str, index: int, text: str) -> dict[str, Any]:
        """Audio deltas and the transcript. Never straight after the agent's last words: a
        person's quick answer would otherwise run into "one moment please" on the line,
        and the callee would hear one utterance where the script has two."""
        loop = asyncio.get_running_loop()
        await asyncio.sleep(max(0.0, self._quiet_from + TURN_GAP - loop.time()))
        self._quiet_from = loop.time() + voice.speech_ms(text) / 1000
        item_id = self._id("item")
        ref = {"response_id": response_id, "item_id": item_id, "output_index": index}
        public = {"id": item_id, "type": "message", "role": "assistant", "content": []}
        await self.send({"type": "response.output_item.added", "item": public, **ref})
        await self.send({"type": "conversation.item.added", "item": public})
        part = {"type": "audio", "transcript": ""}
        await self.send(
            {"type": "response.content_part.added", "content_index": 0, "part": part, **ref}
        )
        audio = self._agent_audio(text)
        for start in range(0, len(audio), CHUNK_BYTES):
            delta = base64.b64encode(audio[start : start + CHUNK_BYTES]).decode()
            await self.send(
                {"type": "response.output_audio.delta", "content_index": 0, "delta": delta, **ref}
            )
            await asyncio.sleep(CHUNK_INTERVAL)
        await self.send({"type": "response.output_audio.done", "content_index": 0, **ref})
        await self.send(
            {
                "type": "response.output_audio_transcript.delta",
                "content_index": 0,
                "delta": text,
                **ref,
            }
        )
        await self.send(
            {
                "type": "response.output_audio_transcript.done",
                "content_index": 0,
                "transcript": text,
                **ref,
            }
        )
        done = {
            **public,
            "status": "completed",
            "content": [{"type": "output_audio", "transcript": text}],
        }
        await self.send({"type": "response.output_item.done", "item": done, **ref})
        return done

    async def _call(
        self, response_id: str, index: int, name: str, args: dict[str, Any]
    ) -> dict[str, Any]:
        item_id, call_id = self._id("item"), self._id("call")
        self._tool_names[call_id] = name
        arguments = json.dumps(args)
        item = {"id": item_id, "type": "function_call", "call_id": call_id, "name": name}
        ref = {"response_id": response_id, "item_id": item_id, "output_index": index}
        await self.send(
            {"type": "response.output_item.added", "item": {**item, "arguments": ""}, **ref}
        )
        await self.send(
            {
                "type": "response.function_call_arguments.delta",
                "call_id": call_id,
                "delta": arguments,
                **ref,
            }
        )
        await self.send(
            {
                "type": "response.function_call_arguments.done",
                "call_id": call_id,
                "name": name,
                "arguments": arguments,
                **ref,
            }
        )
        done = {**item, "arguments": arguments, "status": "completed"}
        await self.send({"type": "response.output_item.done", "item": done, **ref})
        return done
