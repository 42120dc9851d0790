"""OpenAI Realtime (GA) event views for one call: what the server sends, and the items we add.

Why views over raw JSON, not the SDK's models: the bridge reads server events
(docs/protocols.md, Events the bridge sends and reads; e.g. `response.output_audio.delta`)
through these small views, so an event type it does not use costs one dict lookup and an
unknown one cannot break it. Pure: tests check it without a socket.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class RealtimeProtocolError(ValueError):
    """A server message we cannot read (not JSON, or a field of the wrong type)."""


@dataclass(frozen=True, slots=True)
class AudioDelta:
    response_id: str
    item_id: str
    audio: bytes


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    item_id: str
    audio_start_ms: int


@dataclass(frozen=True, slots=True)
class SpeechStopped:
    item_id: str
    audio_end_ms: int


@dataclass(frozen=True, slots=True)
class ResponseCreated:
    response_id: str


@dataclass(frozen=True, slots=True)
class ResponseDone:
    response_id: str
    status: str
    outputs: int = 0  # items the response produced (audio messages, tool calls)


@dataclass(frozen=True, slots=True)
class AgentTranscript:
    item_id: str
    transcript: str


@dataclass(frozen=True, slots=True)
class CallerTranscript:
    item_id: str
    transcript: str


@dataclass(frozen=True, slots=True)
class FunctionCall:
    call_id: str
    name: str
    arguments: dict[str, Any]
    arguments_error: str | None = None


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    code: str
    message: str
    kind: str
    param: str | None = None


@dataclass(frozen=True, slots=True)
class Truncated:
    item_id: str
    audio_end_ms: int


@dataclass(frozen=True, slots=True)
class SessionUpdated:
    session: dict[str, Any]


@dataclass(frozen=True, slots=True)
class OtherEvent:
    """An event the bridge does not act on; kept for logging and stall accounting."""

    type: str


ServerEvent = (
    AudioDelta
    | SpeechStarted
    | SpeechStopped
    | ResponseCreated
    | ResponseDone
    | AgentTranscript
    | CallerTranscript
    | FunctionCall
    | ErrorEvent
    | Truncated
    | SessionUpdated
    | OtherEvent
)


def _str(event: Mapping[str, Any], key: str) -> str:
    value = event.get(key, "")
    if not isinstance(value, str):
        raise RealtimeProtocolError(f"{event.get('type')}: {key} is not a string")
    return value


def _int(event: Mapping[str, Any], key: str) -> int:
    value = event.get(key, 0)
    if not isinstance(value, int) or isinstance(value, bool):
        raise RealtimeProtocolError(f"{event.get('type')}: {key} is not an integer")
    return value


def _audio(e: Mapping[str, Any]) -> AudioDelta:
    try:
        audio = base64.b64decode(_str(e, "delta"), validate=True)
    except binascii.Error as exc:
        raise RealtimeProtocolError("response.output_audio.delta is not base64") from exc
    return AudioDelta(_str(e, "response_id"), _str(e, "item_id"), audio)


def _function_call(e: Mapping[str, Any]) -> FunctionCall:
    raw = _str(e, "arguments")
    try:
        args = json.loads(raw) if raw else {}
    except ValueError:
        return FunctionCall(_str(e, "call_id"), _str(e, "name"), {}, "arguments are not JSON")
    if not isinstance(args, dict):
        return FunctionCall(_str(e, "call_id"), _str(e, "name"), {}, "arguments are not an object")
    return FunctionCall(_str(e, "call_id"), _str(e, "name"), args)


def _error(e: Mapping[str, Any]) -> ErrorEvent:
    err = e.get("error")
    err = err if isinstance(err, dict) else {}
    param = err.get("param")
    return ErrorEvent(
        code=str(err.get("code") or "unknown"),
        message=str(err.get("message") or ""),
        kind=str(err.get("type") or ""),
        param=param if isinstance(param, str) else None,
    )


def _response(e: Mapping[str, Any]) -> dict[str, Any]:
    response = e.get("response")
    return response if isinstance(response, dict) else {}


def _outputs(response: dict[str, Any]) -> int:
    output = response.get("output")
    return len(output) if isinstance(output, list) else 0


_VIEWS: dict[str, Any] = {
    "response.output_audio.delta": _audio,
    "input_audio_buffer.speech_started": lambda e: SpeechStarted(
        _str(e, "item_id"), _int(e, "audio_start_ms")
    ),
    "input_audio_buffer.speech_stopped": lambda e: SpeechStopped(
        _str(e, "item_id"), _int(e, "audio_end_ms")
    ),
    "response.created": lambda e: ResponseCreated(str(_response(e).get("id", ""))),
    "response.done": lambda e: ResponseDone(
        str(_response(e).get("id", "")),
        str(_response(e).get("status", "")),
        _outputs(_response(e)),
    ),
    "response.output_audio_transcript.done": lambda e: AgentTranscript(
        _str(e, "item_id"), _str(e, "transcript")
    ),
    "conversation.item.input_audio_transcription.completed": lambda e: CallerTranscript(
        _str(e, "item_id"), _str(e, "transcript")
    ),
    "response.function_call_arguments.done": _function_call,
    "error": _error,
    "conversation.item.truncated": lambda e: Truncated(_str(e, "item_id"), _int(e, "audio_end_ms")),
    "session.updated": lambda e: SessionUpdated(dict(e.get("session") or {})),
}


def parse_server_event(raw: str | bytes) -> ServerEvent:
    """One server message → a view. Unknown types become `OtherEvent`, never an error."""
    try:
        event = json.loads(raw)
    except ValueError as exc:
        raise RealtimeProtocolError("server message is not JSON") from exc
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise RealtimeProtocolError("server message has no type")
    view = _VIEWS.get(event["type"])
    return view(event) if view else OtherEvent(event["type"])


def function_output_item(call_id: str, output: str) -> dict[str, Any]:
    """The conversation item that answers a function call (then send response.create)."""
    return {"type": "function_call_output", "call_id": call_id, "output": output}


def user_text_item(text: str) -> dict[str, Any]:
    """A user message item, e.g. to tell the model which keys the callee pressed."""
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
