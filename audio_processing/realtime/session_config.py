"""The GA `session` object sent in `session.update`: audio formats, turn detection, tools.

Why pure and apart: the GA wire shape (docs/protocols.md, session.update (GA shape)) is
where the beta-to-GA migration bites (`type: "realtime"`, nested `audio.input/output`), so
tests check it without a socket.
"""

from __future__ import annotations

from typing import Any, Literal

from audio_processing.realtime.tools import tool_schemas

AudioFormat = Literal["pcmu", "pcm24"]
TurnDetection = Literal["server_vad", "semantic_vad"]


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
    """`None` means manual turns. The server detects turns and interrupts a response when
    the callee speaks, but never answers on its own: the bridge asks for every response
    (the callee speaks first, hold, machines; docs/protocols.md, session.update (GA shape))."""
    if kind is None:
        return None
    common = {"create_response": False, "interrupt_response": True}
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
    """The GA `session` object for `session.update` (docs/protocols.md, session.update (GA shape)).

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
