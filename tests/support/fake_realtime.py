"""A strict, scripted stand-in for the OpenAI Realtime GA WebSocket server.

Why: the bridge must be tested against the wire protocol the real service speaks
(docs/protocols.md, Realtime (GA)), reached through the official SDK, without a network or a
key. Being strict where the real service is (the retired beta header, `session.type`,
truncating past the audio sent) is what catches a bridge that drifted back to the beta
shape.

The SDK reaches it with `AsyncOpenAI(base_url=server.base_url, api_key="test")`: it
turns `http://127.0.0.1:<port>/v1` into `ws://127.0.0.1:<port>/v1/realtime?model=...`.
Caller speech is detected by energy (RMS over 20 ms windows, with a hangover), counted in
audio time so tests can feed audio faster than real time. Responses follow a script.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed

from audio_processing.g711 import ulaw_to_slin

CLIENT_EVENTS = frozenset(
    {
        "session.update",
        "input_audio_buffer.append",
        "input_audio_buffer.commit",
        "input_audio_buffer.clear",
        "conversation.item.create",
        "conversation.item.truncate",
        "conversation.item.delete",
        "conversation.item.retrieve",
        "response.create",
        "response.cancel",
        "output_audio_buffer.clear",
    }
)
# What response.create may carry (sdk: types/realtime/realtime_response_create_params_param.py).
RESPONSE_PARAMS = frozenset(
    {"audio", "conversation", "input", "instructions", "max_output_tokens", "metadata"}
    | {"output_modalities", "parallel_tool_calls", "prompt", "reasoning", "tool_choice", "tools"}
)
# Flat beta session keys; the GA server does not know them.
BETA_SESSION_KEYS = frozenset(
    {"modalities", "voice", "input_audio_format", "output_audio_format", "turn_detection"}
    | {"input_audio_transcription", "input_audio_noise_reduction", "temperature"}
)
BETA_CLOSE_CODE = 4000
POLICY_CLOSE_CODE = 1008

Trigger = Literal["any", "speech_stopped", "response.create", "session_start"]


# --- the script ------------------------------------------------------------------------
@dataclass
class Say:
    """Speak `audio` (already in the session's output format) with this transcript."""

    audio: bytes
    transcript: str = ""


@dataclass
class CallFunction:
    """Call a tool; the response ends and the client must answer with its output."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass
class SendError:
    code: str
    message: str = "injected error"
    type: str = "invalid_request_error"


@dataclass
class Stall:
    """Stop sending anything for the rest of the session (the socket stays open)."""


@dataclass
class Hang:
    """This response produces nothing more and never completes, while the session goes on
    (VAD, transcripts, acknowledgements): a model stuck on one answer."""


@dataclass
class Drop:
    """Drop the TCP connection without a closing handshake."""


Step = Say | CallFunction | SendError | Stall | Hang | Drop


@dataclass
class Response:
    """`trigger`: "speech_stopped" answers a caller turn, whether the server VAD creates the
    response (`create_response: true`) or the client asks after the turn ended."""

    steps: list[Step]
    trigger: Trigger = "any"


@dataclass
class Script:
    responses: list[Response] = field(default_factory=list)
    caller_transcripts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Received:
    at: float  # time.monotonic()
    event: dict[str, Any]

    @property
    def type(self) -> str:
        return str(self.event.get("type"))


# --- one connection ----------------------------------------------------------------------
class FakeSession:
    """One WebSocket connection: the session state, its VAD and its scripted responses."""

    def __init__(self, server: FakeRealtimeServer, ws: ServerConnection) -> None:
        self.server = server
        self.ws = ws
        self.received: list[Received] = []
        self.sent: list[Received] = []
        self.config: dict[str, Any] = {}
        self.headers: Headers = ws.request.headers if ws.request else Headers()
        self.path = ws.request.path if ws.request else ""
        self.stalled = False
        self._ids = itertools.count(1)
        self._items: dict[str, dict[str, Any]] = {}
        self._response_task: asyncio.Task[None] | None = None
        self._response_id: str | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # energy VAD state, in audio milliseconds
        self._pcm_rest = b""
        self._audio_ms = 0
        self._speaking = False
        self._quiet_ms = 0
        self._speech_item: str | None = None
        self._turn_unanswered = False  # a caller turn ended and no response began since
        self.appended_audio = bytearray()
        self.response_params: list[dict[str, Any]] = []  # of each response.create accepted
        per_session = server.script_per_session
        self._own_script = per_session() if per_session is not None else None

    @property
    def script(self) -> Script:
        """Its own script when sessions run side by side, else the server's (read afresh:
        tests set it after connecting)."""
        return self._own_script or self.server.script

    def _id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids)}"

    # -- sending --------------------------------------------------------------------------
    async def send(self, event: dict[str, Any]) -> None:
        if self.stalled:
            return
        event.setdefault("event_id", self._id("event"))
        self.sent.append(Received(time.monotonic(), event))
        with contextlib.suppress(ConnectionClosed):
            await self.ws.send(json.dumps(event))

    async def error(self, code: str, message: str, *, kind: str = "invalid_request_error") -> None:
        await self.send(
            {"type": "error", "error": {"type": kind, "code": code, "message": message}}
        )

    async def reject(self, code: str, message: str, close_code: int = POLICY_CLOSE_CODE) -> None:
        await self.error(code, message)
        await self.ws.close(close_code, message[:120])

    def drop(self) -> None:
        self.ws.transport.abort()

    def stall(self) -> None:
        self.stalled = True

    # -- the connection -------------------------------------------------------------------
    async def run(self) -> None:
        if "OpenAI-Beta" in self.headers:
            msg = (
                "The Realtime Beta API is no longer supported. "
                "Please use /v1/realtime for the GA API."
            )
            await self.reject("beta_api_shape_disabled", msg, BETA_CLOSE_CODE)
            return
        if not self.headers.get("Authorization", "").startswith("Bearer "):
            await self.reject("missing_api_key", "Authorization: Bearer <key> is required")
            return
        if not self.path.startswith("/v1/realtime?") or "model=" not in self.path:
            await self.reject("invalid_url", "expected /v1/realtime?model=<model>")
            return
        await self.send({"type": "session.created", "session": {"type": "realtime"}})
        try:
            async for raw in self.ws:
                if not await self._handle(raw):
                    return
        except ConnectionClosed:
            pass
        finally:
            for task in list(self._tasks):
                task.cancel()

    async def _handle(self, raw: str | bytes) -> bool:
        if isinstance(raw, bytes):  # client events are JSON text frames
            await self.reject("invalid_frame", "binary frames are not client events")
            return False
        try:
            event = json.loads(raw)
        except ValueError:
            await self.reject("invalid_json", "the event is not JSON")
            return False
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            await self.reject("invalid_event", "an event is an object with a string type")
            return False
        self.received.append(Received(time.monotonic(), event))
        self.server.arrived.set()
        kind = event["type"]
        if kind not in CLIENT_EVENTS:
            await self.reject("unknown_event_type", f"Invalid value: '{kind}'")
            return False
        handler = getattr(self, "_on_" + kind.replace(".", "_"))
        return await handler(event)

    # -- client events ----------------------------------------------------------------------
    async def _on_session_update(self, event: dict[str, Any]) -> bool:
        session = event.get("session")
        if not isinstance(session, dict) or session.get("type") != "realtime":
            await self.reject(
                "missing_required_parameter", "Missing required parameter: 'session.type'."
            )
            return False
        beta = sorted(BETA_SESSION_KEYS & set(session))
        if beta:
            await self.reject("unknown_parameter", f"Unknown parameter: 'session.{beta[0]}'.")
            return False
        if "model" in session and self.config.get("model") not in (None, session["model"]):
            await self.error("invalid_value", "the model cannot be changed")
            return True
        first = not self.config
        self.config = {**self.config, **session}
        await self.send({"type": "session.updated", "session": self.config})
        if first:
            await self._start_response("session_start")
        return True

    async def _on_input_audio_buffer_append(self, event: dict[str, Any]) -> bool:
        try:
            audio = base64.b64decode(event.get("audio", ""), validate=True)
        except (binascii.Error, ValueError):
            await self.reject("invalid_value", "audio is not base64")
            return False
        self.appended_audio += audio
        await self._vad(self._decode_input(audio))
        return True

    async def _on_input_audio_buffer_commit(self, event: dict[str, Any]) -> bool:
        await self.send({"type": "input_audio_buffer.committed", "item_id": self._id("item")})
        return True

    async def _on_input_audio_buffer_clear(self, event: dict[str, Any]) -> bool:
        await self.send({"type": "input_audio_buffer.cleared"})
        return True

    async def _on_output_audio_buffer_clear(self, event: dict[str, Any]) -> bool:
        await self.error("invalid_request_error", "output_audio_buffer.clear is WebRTC/SIP only")
        return True

    async def _on_conversation_item_create(self, event: dict[str, Any]) -> bool:
        item = event.get("item")
        if not isinstance(item, dict) or "type" not in item:
            await self.error("missing_required_parameter", "Missing required parameter: 'item'.")
            return True
        if item["type"] == "function_call_output":
            call = self._items.get(str(item.get("call_id")))
            if call is None or not isinstance(item.get("output"), str):
                await self.error("invalid_value", "unknown call_id or output is not a string")
                return True
        item = {**item, "id": item.get("id") or self._id("item")}
        self._items[item["id"]] = item
        await self.send({"type": "conversation.item.added", "item": item})
        await self.send({"type": "conversation.item.done", "item": item})
        return True

    async def _on_conversation_item_truncate(self, event: dict[str, Any]) -> bool:
        item = self._items.get(str(event.get("item_id")))
        end_ms = event.get("audio_end_ms")
        if item is None or item.get("role") != "assistant":
            await self.error("invalid_value", "Only assistant message items can be truncated")
            return True
        if not isinstance(end_ms, int) or end_ms < 0 or end_ms > self._sent_ms(item):
            await self.error("invalid_value", "audio_end_ms is longer than the audio sent")
            return True
        item["truncated_ms"] = end_ms
        await self.send(
            {
                "type": "conversation.item.truncated",
                "item_id": item["id"],
                "content_index": event.get("content_index", 0),
                "audio_end_ms": end_ms,
            }
        )
        return True

    async def _on_conversation_item_delete(self, event: dict[str, Any]) -> bool:
        self._items.pop(str(event.get("item_id")), None)
        await self.send({"type": "conversation.item.deleted", "item_id": event.get("item_id")})
        return True

    async def _on_conversation_item_retrieve(self, event: dict[str, Any]) -> bool:
        item = self._items.get(str(event.get("item_id")))
        await self.send({"type": "conversation.item.retrieved", "item": item})
        return True

    async def _on_response_create(self, event: dict[str, Any]) -> bool:
        params = event.get("response", {})
        if not isinstance(params, dict):
            await self.error("invalid_type", "response must be an object")
            return True
        unknown = sorted(set(params) - RESPONSE_PARAMS)
        if unknown:
            await self.error("unknown_parameter", f"Unknown parameter: 'response.{unknown[0]}'.")
            return True
        if self._response_active:
            await self.error("conversation_already_has_active_response", "a response is active")
            return True
        self.response_params.append(params)
        await self._start_response("response.create")
        return True

    async def _on_response_cancel(self, event: dict[str, Any]) -> bool:
        if not self._response_active:
            await self.error("response_cancel_not_active", "no active response found")
            return True
        await self._cancel_response()
        return True

    # -- audio in -------------------------------------------------------------------------
    @property
    def _input_format(self) -> str:
        fmt = self.config.get("audio", {}).get("input", {}).get("format") or {}
        return str(fmt.get("type", "audio/pcm"))

    def _decode_input(self, audio: bytes) -> tuple[bytes, int]:
        if self._input_format == "audio/pcmu":
            return ulaw_to_slin(audio), 8000
        return audio, 24000

    def _sent_ms(self, item: dict[str, Any]) -> int:
        fmt = self.config.get("audio", {}).get("output", {}).get("format") or {}
        per_ms = 8 if fmt.get("type") == "audio/pcmu" else 48
        return int(item.get("audio_bytes", 0)) // per_ms

    async def _vad(self, decoded: tuple[bytes, int]) -> None:
        pcm, rate = decoded
        window = rate // 50 * 2  # 20 ms of 16-bit samples
        data = self._pcm_rest + pcm
        whole = len(data) - len(data) % window
        self._pcm_rest = data[whole:]
        for start in range(0, whole, window):
            samples = np.frombuffer(data[start : start + window], dtype="<i2").astype(np.float64)
            loud = float(np.sqrt(np.mean(samples**2))) >= self.server.vad_threshold
            self._audio_ms += 20
            await self._vad_window(loud)

    async def _vad_window(self, loud: bool) -> None:
        if loud and not self._speaking:
            self._speaking, self._quiet_ms = True, 0
            self._speech_item = self._id("item")
            await self.send(
                {
                    "type": "input_audio_buffer.speech_started",
                    "audio_start_ms": self._audio_ms - 20,
                    "item_id": self._speech_item,
                }
            )
            if self._turn_detection.get("interrupt_response", True) and self._response_active:
                await self._cancel_response()
        elif self._speaking:
            self._quiet_ms = 0 if loud else self._quiet_ms + 20
            if self._quiet_ms >= self.server.vad_hangover_ms:
                self._speaking = False
                await self._end_caller_turn()

    @property
    def _turn_detection(self) -> dict[str, Any]:
        td = self.config.get("audio", {}).get("input", {}).get("turn_detection")
        return td if isinstance(td, dict) else {}

    async def _end_caller_turn(self) -> None:
        item_id = self._speech_item or self._id("item")
        await self.send(
            {
                "type": "input_audio_buffer.speech_stopped",
                "audio_end_ms": self._audio_ms - self._quiet_ms,
                "item_id": item_id,
            }
        )
        await self.send({"type": "input_audio_buffer.committed", "item_id": item_id})
        item = {"id": item_id, "type": "message", "role": "user", "content": []}
        self._items[item_id] = item
        await self.send({"type": "conversation.item.added", "item": item})
        transcripts = self.script.caller_transcripts
        if self.config.get("audio", {}).get("input", {}).get("transcription") and transcripts:
            await self.send(
                {
                    "type": "conversation.item.input_audio_transcription.completed",
                    "item_id": item_id,
                    "content_index": 0,
                    "transcript": transcripts.pop(0),
                }
            )
        self._turn_unanswered = True
        if self._turn_detection and self._turn_detection.get("create_response", True):
            await self._start_response("speech_stopped")

    # -- responses ------------------------------------------------------------------------
    @property
    def _response_active(self) -> bool:
        return self._response_task is not None and not self._response_task.done()

    async def _start_response(self, trigger: Trigger) -> None:
        script = self.script.responses
        accepted: tuple[Trigger, ...] = (trigger,)
        if trigger != "session_start":
            answers_turn = trigger == "speech_stopped" or self._turn_unanswered
            accepted = ("any", trigger, *(("speech_stopped",) if answers_turn else ()))
            self._turn_unanswered = False
        if script and script[0].trigger in accepted:
            steps = script.pop(0).steps
        elif trigger == "session_start":
            return
        else:
            steps = []
        self._response_id = self._id("resp")
        task = asyncio.get_running_loop().create_task(self._play(self._response_id, steps))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._response_task = task

    async def _cancel_response(self) -> None:
        task, self._response_task = self._response_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._response_done(self._response_id or "", "cancelled", [])

    async def _response_done(self, response_id: str, status: str, output: list[Any]) -> None:
        response = {"id": response_id, "object": "realtime.response", "status": status}
        await self.send({"type": "response.done", "response": {**response, "output": output}})

    async def _play(self, response_id: str, steps: list[Step]) -> None:
        await self.send(
            {
                "type": "response.created",
                "response": {"id": response_id, "status": "in_progress", "output": []},
            }
        )
        output: list[Any] = []
        for index, step in enumerate(steps):
            if isinstance(step, Say):
                output.append(await self._say(response_id, index, step))
            elif isinstance(step, CallFunction):
                output.append(await self._call(response_id, index, step))
            elif isinstance(step, SendError):
                await self.error(step.code, step.message, kind=step.type)
            elif isinstance(step, Stall):
                self.stall()
                return
            elif isinstance(step, Hang):
                await asyncio.Event().wait()  # until cancelled (barge-in) or the session ends
            else:
                self.drop()
                return
        self._response_task = None
        await self._response_done(response_id, "completed", output)

    async def _say(self, response_id: str, index: int, step: Say) -> dict[str, Any]:
        item = {"id": self._id("item"), "type": "message", "role": "assistant", "audio_bytes": 0}
        self._items[item["id"]] = item
        ref = {"response_id": response_id, "item_id": item["id"], "output_index": index}
        public = {"id": item["id"], "type": "message", "role": "assistant", "content": []}
        await self.send({"type": "response.output_item.added", "item": public, **ref})
        await self.send({"type": "conversation.item.added", "item": public})
        part = {"type": "audio", "transcript": ""}
        await self.send(
            {"type": "response.content_part.added", "content_index": 0, "part": part, **ref}
        )
        chunk = self.server.chunk_bytes
        for start in range(0, len(step.audio), chunk):
            piece = step.audio[start : start + chunk]
            delta = base64.b64encode(piece).decode()
            await self.send(
                {"type": "response.output_audio.delta", "content_index": 0, "delta": delta, **ref}
            )
            item["audio_bytes"] += len(piece)
            await asyncio.sleep(self.server.chunk_interval)
        await self.send({"type": "response.output_audio.done", "content_index": 0, **ref})
        for word in step.transcript.split(" ") if step.transcript else []:
            await self.send(
                {
                    "type": "response.output_audio_transcript.delta",
                    "content_index": 0,
                    "delta": word + " ",
                    **ref,
                }
            )
        await self.send(
            {
                "type": "response.output_audio_transcript.done",
                "content_index": 0,
                "transcript": step.transcript,
                **ref,
            }
        )
        done = {
            **public,
            "status": "completed",
            "content": [{"type": "output_audio", "transcript": step.transcript}],
        }
        await self.send({"type": "response.output_item.done", "item": done, **ref})
        return done

    async def _call(self, response_id: str, index: int, step: CallFunction) -> dict[str, Any]:
        item_id, call_id = self._id("item"), self._id("call")
        arguments = json.dumps(step.arguments)
        item = {"id": item_id, "type": "function_call", "call_id": call_id, "name": step.name}
        self._items[call_id] = item
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
                "name": step.name,
                "arguments": arguments,
                **ref,
            }
        )
        done = {**item, "arguments": arguments, "status": "completed"}
        await self.send({"type": "response.output_item.done", "item": done, **ref})
        return done


# --- the server ------------------------------------------------------------------------
class FakeRealtimeServer:
    """`async with FakeRealtimeServer(script) as server:` then point the SDK at `base_url`.

    `chunk_bytes`/`chunk_interval` pace the audio deltas: 800 μ-law bytes (100 ms) every
    10 ms by default, ten times faster than real time, like the real service.
    `script_per_session` gives every connection its own script (calls side by side).
    """

    def __init__(
        self,
        script: Script | None = None,
        *,
        script_per_session: Callable[[], Script] | None = None,
        vad_threshold: float = 500.0,
        vad_hangover_ms: int = 300,
        chunk_bytes: int = 800,
        chunk_interval: float = 0.010,
    ) -> None:
        self.script = script or Script()
        self.script_per_session = script_per_session  # a fresh script for each connection
        self.vad_threshold = vad_threshold
        self.vad_hangover_ms = vad_hangover_ms
        self.chunk_bytes = chunk_bytes
        self.chunk_interval = chunk_interval
        self.sessions: list[FakeSession] = []
        self.connected = asyncio.Event()
        self.arrived = asyncio.Event()  # set on every client event
        self._server: Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def session(self) -> FakeSession:
        """The latest connection (most tests have exactly one)."""
        return self.sessions[-1]

    async def __aenter__(self) -> FakeRealtimeServer:
        self._server = await serve(self._handler, "127.0.0.1", 0, max_size=None, compression=None)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await asyncio.wait_for(self._server.wait_closed(), timeout=5)

    async def _handler(self, ws: ServerConnection) -> None:
        session = FakeSession(self, ws)
        self.sessions.append(session)
        self.connected.set()
        await session.run()  # a stalled session keeps reading, silent, until the client leaves

    def received(self, kind: str | None = None) -> list[Received]:
        """Every client event of every session (of one type if given), in arrival order."""
        events = [r for s in self.sessions for r in s.received]
        return [r for r in events if kind is None or r.type == kind]

    async def wait_for(self, kind: str, count: int = 1, timeout: float = 5.0) -> list[Received]:
        """Wait until `count` client events of this type have arrived."""
        async with asyncio.timeout(timeout):
            while len(self.received(kind)) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.received(kind)
