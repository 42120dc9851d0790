"""The bridge against the strict fake server, with a real CallAudio and paced playout."""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

import numpy as np
import pytest
from openai import AsyncOpenAI

from audio_processing.g711 import ulaw_to_slin
from audio_processing.realtime.bridge import BridgeOptions, RealtimeBridge
from audio_processing.talker_result import TalkerEnd
from common.call_outcomes import AgentOutcome
from tests.realtime.bridge_support import Sink, Tools, hang_up, start, until
from tests.realtime.conftest import FRAME, SILENCE, PacedCall, session_for, tone, ulaw_tone, voice
from tests.support.fake_realtime import (
    CallFunction,
    Drop,
    FakeRealtimeServer,
    Response,
    Say,
    Script,
    SendError,
    Stall,
)


async def _start(
    client: AsyncOpenAI,
    call: PacedCall,
    tools: Tools | None = None,
    sink: Sink | None = None,
    **options: Any,
) -> tuple[RealtimeBridge, asyncio.Task[None]]:
    options.setdefault("greet_after", 0.0)  # the agent speaks first unless a test says not
    return await start(client, call, tools, sink, **options)


_hang_up = hang_up
_until = until


def _rms(pcm: bytes) -> float:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(samples**2)))


def _agent_item(fake: FakeRealtimeServer) -> str | None:
    """The first assistant audio item the server started, once it has."""
    added = [e.event["item"] for e in fake.session.sent if e.type == "response.output_item.added"]
    spoken = [item["id"] for item in added if item["type"] == "message"]
    return spoken[0] if spoken else None


def _played(fake: FakeRealtimeServer, call: PacedCall) -> int:
    item = _agent_item(fake)
    return call.playout.played_ms(item) if item else 0


async def test_caller_audio_arrives_as_ulaw_that_follows_its_energy(
    client: AsyncOpenAI, fake: FakeRealtimeServer, call: PacedCall
) -> None:
    bridge, task = await _start(client, call, greet_after=None, input_batch_frames=2)
    await call.feed(SILENCE * 10 + voice(200) + SILENCE * 20, interval=0.005)
    await _until(lambda: len(fake.session.appended_audio) >= 40 * 160)
    appends = fake.received("input_audio_buffer.append")
    # 2 frames (320 B μ-law) each, or what one run brought, at most 2 batches; the first
    # may hold 1: calls are staggered (bridge.py)
    assert {_frames(e) for e in appends[1:-1]} <= {2, 3, 4}
    assert 1 <= _frames(appends[0]) <= 4
    pcm = ulaw_to_slin(bytes(fake.session.appended_audio))
    windows = [_rms(pcm[i : i + FRAME]) for i in range(0, 40 * FRAME, FRAME)]
    assert max(windows[:10]) < 50
    assert min(windows[10:20]) > 3000  # the tone's RMS is 6000/√2; μ-law keeps it
    assert max(windows[20:]) < 50
    started = [e for e in fake.session.sent if e.type == "input_audio_buffer.speech_started"]
    assert [e.event["audio_start_ms"] for e in started] == [200]
    await _hang_up(call, task)
    assert bridge.result is not None
    assert bridge.result.reason is TalkerEnd.CALLER_HANGUP
    assert not bridge.result.reason.is_failure


async def test_input_batch_frames_sets_the_frames_per_append(
    client: AsyncOpenAI, fake: FakeRealtimeServer, call: PacedCall
) -> None:
    """OPENAI_INPUT_BATCH_FRAMES: fewer, larger appends; the audio itself is unchanged."""
    _, task = await _start(client, call, greet_after=None, input_batch_frames=3)
    await call.feed(voice(200) + SILENCE * 10, interval=0.005)
    await _until(lambda: len(fake.session.appended_audio) >= 21 * 160)
    appends = fake.received("input_audio_buffer.append")
    # 3 frames (480 B μ-law) each, or what one run brought, at most 2 batches
    assert {_frames(e) for e in appends[1:-1]} <= {3, 4, 5, 6}
    assert 1 <= _frames(appends[0]) <= 6  # calls are staggered (bridge.py)
    assert sum(_frames(e) for e in appends) * 160 == len(fake.session.appended_audio)
    pcm = ulaw_to_slin(bytes(fake.session.appended_audio))
    assert min(_rms(pcm[i : i + FRAME]) for i in range(0, 10 * FRAME, FRAME)) > 3000
    assert max(_rms(pcm[i : i + FRAME]) for i in range(10 * FRAME, 20 * FRAME, FRAME)) < 50
    await _hang_up(call, task)


async def test_prewarmed_greeting_is_heard_within_300_ms(
    client: AsyncOpenAI, fake: FakeRealtimeServer, call: PacedCall
) -> None:
    fake.script = Script([Response([Say(ulaw_tone(500), "Hello, I am an AI assistant.")])])
    started = asyncio.get_running_loop().time()
    _bridge, task = await _start(client, call)
    await _until(lambda: call.voiced())
    first_voice = call.voiced()[0][0]
    assert first_voice - started < 0.300
    await _hang_up(call, task)


async def test_send_dtmf_reaches_the_tool_host_and_its_output_returns(
    client: AsyncOpenAI, fake: FakeRealtimeServer, call: PacedCall
) -> None:
    fake.script = Script(
        [
            Response([CallFunction("send_dtmf", {"digits": "1"})]),
            Response([Say(ulaw_tone(200), "I pressed one.")]),
        ]
    )
    tools = Tools(answer="pressed 1")
    _bridge, task = await _start(client, call, tools=tools)
    await fake.wait_for("response.create", count=2)
    assert tools.calls == [("send_dtmf", {"digits": "1"})]
    [output] = [
        e
        for e in fake.received("conversation.item.create")
        if e.event["item"]["type"] == "function_call_output"
    ]
    call_done = next(
        e for e in fake.session.sent if e.type == "response.function_call_arguments.done"
    )
    assert output.event["item"]["call_id"] == call_done.event["call_id"]
    assert output.event["item"]["output"] == "pressed 1"
    second_create = fake.received("response.create")[1]
    assert second_create.at >= output.at
    await _until(lambda: _played(fake, call) == 200)
    await _hang_up(call, task)


async def test_barge_in_flushes_and_truncates_at_the_played_ms(
    client: AsyncOpenAI, fake: FakeRealtimeServer, call: PacedCall
) -> None:
    fake.script = Script([Response([Say(ulaw_tone(3000), "A long explanation.")])])
    bridge, task = await _start(client, call)
    await _until(lambda: call.voiced())
    item = _agent_item(fake)
    assert item is not None
    await _until(lambda: call.playout.played_ms(item) >= 400)
    await call.feed(tone(100) + SILENCE * 20, interval=0.005)
    [truncate] = await fake.wait_for("conversation.item.truncate")
    assert truncate.event["item_id"] == item
    heard = truncate.event["audio_end_ms"]
    assert 400 <= heard < 3000
    await asyncio.sleep(0.1)  # a few more writer ticks: nothing more of the item plays
    assert call.playout.played_ms(item) == heard
    truncated = [e for e in fake.session.sent if e.type == "conversation.item.truncated"]
    assert [e.event["audio_end_ms"] for e in truncated] == [heard]
    assert not bridge.errors
    await _hang_up(call, task)
    assert bridge.result is not None
    assert bridge.result.agent_audio_played_ms == heard  # what the callee heard, not
    assert bridge.result.agent_audio_generated_ms > heard  # what the model sent


async def test_stall_while_a_response_is_expected_ends_with_ai_failure(
    client: AsyncOpenAI, fake: FakeRealtimeServer, call: PacedCall
) -> None:
    fake.script = Script([Response([Stall()])])
    bridge, task = await _start(client, call, stall_timeout=0.5)
    await asyncio.wait_for(task, 5)
    assert bridge.result is not None
    assert bridge.result.reason is TalkerEnd.MODEL_STALLED
    assert bridge.result.reason.is_failure
    await asyncio.wait_for(call.audio.hangup_requested(), 1)
    await asyncio.wait_for(fake.session.ws.wait_closed(), 2)


async def test_silence_while_no_response_is_expected_is_not_a_stall(
    client: AsyncOpenAI, fake: FakeRealtimeServer, call: PacedCall
) -> None:
    _bridge, task = await _start(client, call, greet_after=None, stall_timeout=0.2)
    await asyncio.sleep(0.6)
    assert not task.done()
    await _hang_up(call, task)


async def test_dropped_socket_ends_with_ai_failure(
    client: AsyncOpenAI, fake: FakeRealtimeServer, call: PacedCall
) -> None:
    fake.script = Script([Response([Say(ulaw_tone(100), "Hel"), Drop()])])
    bridge, task = await _start(client, call)
    await asyncio.wait_for(task, 5)
    assert bridge.result is not None
    assert bridge.result.reason is TalkerEnd.MODEL_CLOSED
    assert bridge.result.reason.is_failure
    await asyncio.wait_for(call.audio.hangup_requested(), 1)


async def test_error_event_is_logged_with_its_code_and_the_call_goes_on(
    client: AsyncOpenAI,
    fake: FakeRealtimeServer,
    call: PacedCall,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake.script = Script([Response([SendError("rate_limit_exceeded"), Say(ulaw_tone(200), "Hi")])])
    caplog.set_level(logging.WARNING, logger="audio_processing.realtime.bridge")
    bridge, task = await _start(client, call)
    await _until(lambda: _played(fake, call) == 200)
    assert [e.code for e in bridge.errors] == ["rate_limit_exceeded"]
    logged = [r for r in caplog.records if r.getMessage() == "realtime error event"]
    assert [getattr(r, "code", None) for r in logged] == ["rate_limit_exceeded"]
    assert not task.done()
    await _hang_up(call, task)
    assert bridge.result is not None
    assert not bridge.result.reason.is_failure


async def test_end_call_plays_the_goodbye_then_hangs_up_with_the_verdict(
    client: AsyncOpenAI, fake: FakeRealtimeServer, call: PacedCall
) -> None:
    fake.script = Script(
        [
            Response(
                [
                    Say(ulaw_tone(300), "Thank you, goodbye."),
                    CallFunction("record_fact", {"key": "price", "value": "42"}),
                    CallFunction("end_call", {"outcome": "success", "summary": "Booked."}),
                ]
            )
        ]
    )
    sink = Sink()
    tools = Tools()
    bridge, task = await _start(client, call, tools=tools, sink=sink)
    await asyncio.wait_for(call.audio.hangup_requested(), 5)
    assert _played(fake, call) == 300  # the goodbye was heard in full
    await asyncio.wait_for(task, 5)
    result = bridge.result
    assert result is not None
    assert (result.reason, result.agent_outcome) == (TalkerEnd.END_CALL, AgentOutcome.SUCCESS)
    assert result.summary == "Booked."
    assert (result.agent_audio_generated_ms, result.agent_audio_played_ms) == (300, 300)
    assert tools.calls == [("record_fact", {"key": "price", "value": "42"})]  # the host keeps it
    assert [(t.speaker, t.text) for t in sink.turns] == [("agent", "Thank you, goodbye.")]


async def test_caller_turn_transcript_and_reply_latency(
    client: AsyncOpenAI, fake: FakeRealtimeServer, call: PacedCall
) -> None:
    fake.script = Script(
        [Response([Say(ulaw_tone(200), "Sure.")], trigger="speech_stopped")],
        caller_transcripts=["Can you call back tomorrow?"],
    )
    sink = Sink()
    bridge, task = await _start(client, call, sink=sink, greet_after=None)
    await call.feed(voice(200) + SILENCE * 20, interval=0.005)
    await _until(lambda: sink.latencies)
    stopped = next(e for e in fake.session.sent if e.type == "input_audio_buffer.speech_stopped")
    first_voice = call.voiced()[0][0]
    # the measured latency spans speech_stopped (client side) → first voiced frame written
    assert 0 < sink.latencies[0] <= (first_voice - stopped.at) * 1000 + 25
    await _until(lambda: len(sink.turns) == 2)
    speakers = {(t.speaker, t.text) for t in sink.turns}
    assert speakers == {("callee", "Can you call back tomorrow?"), ("agent", "Sure.")}
    await _hang_up(call, task)
    assert bridge.result is not None
    assert bridge.result.latency_ms == tuple(round(ms, 1) for ms in sink.latencies)


async def test_pcm24_sessions_are_resampled_both_ways(
    client: AsyncOpenAI, fake: FakeRealtimeServer, call: PacedCall
) -> None:
    fake.script = Script([Response([Say(tone(200, rate=24000), "Hi")])])
    session = session_for(client, audio="pcm24")
    await session.ready()
    # No filled silence while the test waits: the input is counted to the byte.
    options = BridgeOptions(silence_fill_after=None, greet_after=0.0, input_batch_frames=2)
    bridge = RealtimeBridge(session, Tools(), None, options)
    task = asyncio.get_running_loop().create_task(bridge.run(call.audio), name="bridge")
    await _until(lambda: _played(fake, call) == 200)  # 9600 B at 24 kHz → 200 ms at 8 kHz
    await call.feed(voice(200) + SILENCE * 20, interval=0.005)
    await _until(lambda: len(fake.session.appended_audio) >= 3 * 29 * FRAME - 4)
    appended = bytes(fake.session.appended_audio)
    # Each 20 ms frame of slin8 → 3 x its bytes of slin24 (the resampler's filter delay: ≤ 2
    # samples); 29 or 30 frames of the 30 are sent (the first append may be short, so the
    # last frame may still wait for its batch).
    assert len(appended) % 2 == 0
    frames = round(len(appended) / (3 * FRAME))
    assert frames in (29, 30)
    assert abs(len(appended) - 3 * frames * FRAME) <= 4
    loud = _rms(appended[: 200 * 48])
    assert loud > 3000
    assert [e.type for e in fake.session.sent].count("input_audio_buffer.speech_started") == 1
    await _hang_up(call, task)


def _frames(append: Any) -> int:
    """20 ms μ-law frames (160 B) in one input_audio_buffer.append."""
    return len(base64.b64decode(append.event["audio"])) // 160
