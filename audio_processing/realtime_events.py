"""OpenAI Realtime (GA) protocol pieces for one call: session config, tools, event views. No I/O.

Why pure: the GA wire shape (PROTOCOLS.md §3.3 to §3.5) is where the beta-to-GA migration
bites (`type: "realtime"`, nested `audio.input/output`, `response.output_audio.delta`),
so it lives in one module that tests can check without a socket. The bridge reads
server events as raw JSON through these small views, not the SDK's models, so an event
type it does not use costs one dict lookup and an unknown one cannot break it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

AudioFormat = Literal["pcmu", "pcm24"]
TurnDetection = Literal["server_vad", "semantic_vad"]

END_CALL_OUTCOMES = (
    "success",
    "failure",
    "callback_requested",
    "needs_user",
    "do_not_call",
    "wrong_number",
    "voicemail",
)


def _tool(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict:
    params = {"type": "object", "properties": properties, "required": required}
    params["additionalProperties"] = False
    return {"type": "function", "name": name, "description": description, "parameters": params}


def _text(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


TOOLS: dict[str, dict[str, Any]] = {
    "send_dtmf": _tool(
        "send_dtmf",
        "Press keys on the phone keypad, e.g. to navigate a phone menu.",
        {"digits": _text("Keys to press, in order.", pattern="^[0-9*#A-D]{1,32}$")},
        ["digits"],
    ),
    "end_call": _tool(
        "end_call",
        "Hang up after saying goodbye. Call it once the objective is met or cannot be met.",
        {
            "outcome": _text("How the call went.", enum=list(END_CALL_OUTCOMES)),
            "summary": _text("Two or three sentences: what was said and decided."),
        },
        ["outcome", "summary"],
    ),
    "request_user_feedback": _tool(
        "request_user_feedback",
        "Ask the person you are calling for a question only they can answer; "
        "keep the callee engaged while you wait for the answer.",
        {"question": _text("The question for the person, self-contained.")},
        ["question"],
    ),
    "transfer_to_user": _tool(
        "transfer_to_user",
        "Connect the callee to the person you are calling for (only when asked to).",
        {},
        [],
    ),
    "record_fact": _tool(
        "record_fact",
        "Remember a fact learned on the call (a price, a date, a reference number).",
        {"key": _text("Short snake_case name."), "value": _text("The fact.")},
        ["key", "value"],
    ),
    "schedule_callback": _tool(
        "schedule_callback",
        "Arrange to call back later when the callee asks for it.",
        {"when": _text("When to call back: ISO 8601 date-time, or the callee's words.")},
        ["when"],
    ),
    "send_sms": _tool(
        "send_sms",
        "Send a text message to the person you are calling for.",
        {"text": _text("The message.")},
        ["text"],
    ),
    "send_email": _tool(
        "send_email",
        "Send an email to the person you are calling for.",
        {"subject": _text("Subject line."), "body": _text("Plain-text body.")},
        ["subject", "body"],
    ),
}


def tool_schemas(names: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """The function tools to offer, all by default; unknown names are a programming error."""
    chosen = list(TOOLS) if names is None else list(names)
    unknown = [n for n in chosen if n not in TOOLS]
    if unknown:
        raise ValueError(f"unknown tools: {unknown}")
    return [TOOLS[n] for n in chosen]


def audio_format(kind: AudioFormat) -> dict[str, Any]:
    if kind == "pcmu":
        return {"type": "audio/pcmu"}
    return {"type": "audio/pcm", "rate": 24000}


def turn_detection_config(
    kind: TurnDetection | None,
    *,
    threshold: float = 0.5,
    silence_duration_ms: int = 500,
    prefix_padding_ms: int = 300,
    eagerness: Literal["low", "medium", "high", "auto"] = "auto",
) -> dict[str, Any] | None:
    """`None` means manual turns. The server creates and interrupts responses itself."""
    if kind is None:
        return None
    common = {"create_response": True, "interrupt_response": True}
    if kind == "semantic_vad":
        return {"type": "semantic_vad", "eagerness": eagerness, **common}
    return {
        "type": "server_vad",
        "threshold": threshold,
        "prefix_padding_ms": prefix_padding_ms,
        "silence_duration_ms": silence_duration_ms,
        **common,
    }


def build_session_config(
    *,
    model: str,
    instructions: str,
    voice: str = "marin",
    audio: AudioFormat = "pcmu",
    turn_detection: dict[str, Any] | None = None,
    noise_reduction: Literal["near_field", "far_field"] | None = "near_field",
    transcription_model: str | None = None,
    language: str | None = None,
    tools: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The GA `session` object for `session.update` (PROTOCOLS.md §3.3).

    `turn_detection` defaults to server VAD; pass `turn_detection_config(...)` to tune
    it or pick semantic VAD. The same format both ways keeps the bridge to one codec.
    """
    input_cfg: dict[str, Any] = {
        "format": audio_format(audio),
        "noise_reduction": {"type": noise_reduction} if noise_reduction else None,
        "turn_detection": turn_detection or turn_detection_config("server_vad"),
    }
    if transcription_model:
        transcription = {"model": transcription_model}
        input_cfg["transcription"] = {
            **transcription,
            **({"language": language} if language else {}),
        }
    return {
        "type": "realtime",
        "model": model,
        "instructions": instructions,
        "output_modalities": ["audio"],
        "audio": {"input": input_cfg, "output": {"format": audio_format(audio), "voice": voice}},
        "tools": tool_schemas() if tools is None else tools,
        "tool_choice": "auto",
    }


# --- instructions ----------------------------------------------------------------------
DEFAULT_DISCLOSURE = (
    "You are an AI assistant. Say so at the start of the call, and again whenever asked."
)


@dataclass(frozen=True)
class CallBrief:
    """What the agent needs to know about the task for this call (no database rows)."""

    objective: str
    on_behalf_of: str
    person_said: str = ""
    success_criteria: str = ""
    callee: str = ""
    language: str = ""
    allowed_facts: Mapping[str, str] = field(default_factory=dict)
    forbidden_facts: tuple[str, ...] = ()
    disclosure: str = DEFAULT_DISCLOSURE


def build_instructions(brief: CallBrief) -> str:
    """The session instructions: who we are, for whom, what to achieve, what not to share."""
    lines = [
        f"You are on a phone call on behalf of {brief.on_behalf_of}.",
        brief.disclosure,
        f"Objective: {brief.objective}",
    ]
    if brief.callee:
        lines.append(f"You are calling: {brief.callee}")
    if brief.person_said:
        lines.append(f"What {brief.on_behalf_of} told you: {brief.person_said}")
    if brief.success_criteria:
        lines.append(f"The call succeeds when: {brief.success_criteria}")
    if brief.allowed_facts:
        facts = "; ".join(f"{k}: {v}" for k, v in brief.allowed_facts.items())
        lines.append(f"You may share these facts when needed: {facts}")
    if brief.forbidden_facts:
        lines.append("Never share: " + ", ".join(brief.forbidden_facts) + ".")
    if brief.language:
        lines.append(f"Speak {brief.language}.")
    lines += [
        "Speak briefly and naturally, one idea at a time; let the callee finish.",
        "Use send_dtmf for phone menus. Use record_fact for anything worth keeping.",
        "If only the person can answer a question, use request_user_feedback.",
        "When done, say goodbye, then call end_call with the outcome and a short summary.",
    ]
    return "\n".join(lines)


# --- server event views ------------------------------------------------------------------
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
        str(_response(e).get("id", "")), str(_response(e).get("status", ""))
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
