"""The pure Realtime pieces: the GA session shape, tool schemas, instructions, event views."""

from __future__ import annotations

import base64
import json

import pytest

from audio_processing.realtime.events import (
    AudioDelta,
    ErrorEvent,
    FunctionCall,
    OtherEvent,
    RealtimeProtocolError,
    SpeechStarted,
    parse_server_event,
)
from audio_processing.realtime.session_config import build_session_config, turn_detection_config
from audio_processing.realtime.tools import TOOLS, tool_schemas


def test_session_config_is_the_ga_shape() -> None:
    cfg = build_session_config(
        model="gpt-realtime", instructions="hi", voice="cedar", transcription_model="whisper-1"
    )
    assert cfg["type"] == "realtime"
    assert cfg["output_modalities"] == ["audio"]
    assert cfg["audio"]["input"]["format"] == {"type": "audio/pcmu"}
    assert cfg["audio"]["output"] == {"format": {"type": "audio/pcmu"}, "voice": "cedar"}
    assert cfg["audio"]["input"]["noise_reduction"] == {"type": "near_field"}
    assert cfg["audio"]["input"]["transcription"] == {"model": "whisper-1"}
    vad = cfg["audio"]["input"]["turn_detection"]
    # The server detects turns and interrupts, but never answers on its own: the bridge asks.
    assert (vad["type"], vad["create_response"], vad["interrupt_response"]) == (
        "server_vad",
        False,
        True,
    )
    assert cfg["tool_choice"] == "auto"
    assert {t["name"] for t in cfg["tools"]} == set(TOOLS)
    beta_keys = {"modalities", "voice", "input_audio_format", "turn_detection", "temperature"}
    assert not beta_keys & set(cfg)


def test_pcm24_and_semantic_vad_options() -> None:
    cfg = build_session_config(
        model="gpt-realtime",
        instructions="",
        audio="pcm24",
        noise_reduction=None,
        turn_detection=turn_detection_config("semantic_vad", eagerness="high"),
    )
    assert cfg["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert cfg["audio"]["input"]["noise_reduction"] is None
    assert cfg["audio"]["input"]["turn_detection"]["type"] == "semantic_vad"
    assert cfg["audio"]["input"]["turn_detection"]["eagerness"] == "high"
    assert "transcription" not in cfg["audio"]["input"]


def test_tool_schemas_are_strict_json_schema_objects() -> None:
    for tool in tool_schemas():
        assert tool["type"] == "function"
        params = tool["parameters"]
        assert params["type"] == "object"
        assert params["additionalProperties"] is False
        assert set(params["required"]) <= set(params["properties"])
    assert TOOLS["send_dtmf"]["parameters"]["required"] == ["digits"]
    assert TOOLS["end_call"]["parameters"]["required"] == ["outcome", "summary"]
    assert [t["name"] for t in tool_schemas(["end_call"])] == ["end_call"]
    with pytest.raises(ValueError, match="unknown"):
        tool_schemas(["fly"])


def _raw(**event: object) -> str:
    return json.dumps(event)


def test_event_views() -> None:
    delta = parse_server_event(
        _raw(
            type="response.output_audio.delta",
            response_id="r",
            item_id="i",
            delta=base64.b64encode(b"\x01\x02").decode(),
        )
    )
    assert delta == AudioDelta("r", "i", b"\x01\x02")
    started = parse_server_event(
        _raw(type="input_audio_buffer.speech_started", item_id="u", audio_start_ms=40)
    )
    assert started == SpeechStarted("u", 40)
    call = parse_server_event(
        _raw(
            type="response.function_call_arguments.done",
            call_id="c",
            name="send_dtmf",
            arguments='{"digits": "1"}',
        )
    )
    assert call == FunctionCall("c", "send_dtmf", {"digits": "1"})
    bad = parse_server_event(
        _raw(type="response.function_call_arguments.done", call_id="c", name="x", arguments="{")
    )
    assert isinstance(bad, FunctionCall)
    assert bad.arguments_error
    err = parse_server_event(
        _raw(type="error", error={"type": "server_error", "code": "x", "message": "m"})
    )
    assert err == ErrorEvent("x", "m", "server_error")
    assert parse_server_event(_raw(type="rate_limits.updated")) == OtherEvent("rate_limits.updated")


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[]",
        _raw(type="response.output_audio.delta", item_id="i", response_id="r", delta="@@"),
        _raw(type="input_audio_buffer.speech_started", item_id="u", audio_start_ms="soon"),
    ],
)
def test_unreadable_events_raise_protocol_error(raw: str) -> None:
    with pytest.raises(RealtimeProtocolError):
        parse_server_event(raw)
