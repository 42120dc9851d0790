"""The AI agent on real calls: issue 4's "done when", end to end.

Every call is a real SIP call through the sandbox's loopback trunk to a scripted far end;
the answered call comes back over a real AudioSocket connection to the real
AgentTalkerFactory, whose pre-warmed session reaches the strict local Realtime server
through the official SDK. The fake model's voice is a tone (μ-law, as configured); its
words are the scripted transcripts. Times are time.monotonic() on both sides.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from audio_processing.g711 import ulaw_to_slin
from audio_processing.realtime.bridge import BridgeOptions
from call_processor.finished_call import EndedBy, FinishedCall
from common.call_outcomes import AgentOutcome
from common.commands import FeedbackAnswer, Hangup
from database.models import Call, CallTurn
from database.repositories import calls, feedback, turns
from database.states import CallStatus, FeedbackStatus
from tests.agent.conftest import AgentStack, agent_stack
from tests.calls.conftest import wait_until
from tests.realtime.conftest import ulaw_tone
from tests.support import sandbox as sb
from tests.support.audiosocket_tap import TappedCall
from tests.support.fake_realtime import (
    CallFunction,
    Drop,
    FakeRealtimeServer,
    Received,
    Response,
    Say,
    Script,
    Stall,
)
from tests.support.sandbox import Sandbox

pytestmark = pytest.mark.sandbox

FRAME_MS = 20


@pytest.fixture
async def fake() -> AsyncIterator[FakeRealtimeServer]:
    async with FakeRealtimeServer() as server:
        yield server


@pytest.fixture
async def stack(
    asterisk_sandbox: Sandbox, tmp_path: Path, fake: FakeRealtimeServer
) -> AsyncIterator[AgentStack]:
    async with agent_stack(asterisk_sandbox, tmp_path, fake) as built:
        yield built


# --- helpers ---------------------------------------------------------------------------
async def call_row(stack: AgentStack, call_id: str) -> Call:
    async with stack.sessions() as s:
        row = await calls.get(s, user_id=stack.user_id, call_id=call_id)
    assert row is not None
    return row


async def call_turns(stack: AgentStack, call_id: str) -> list[CallTurn]:
    async with stack.sessions() as s:
        return await turns.list_for_call(s, user_id=stack.user_id, call_id=call_id)


def sent(fake: FakeRealtimeServer, kind: str) -> list[Received]:
    """Server events the fake sent (all sessions), of one type."""
    return [e for s in fake.sessions for e in s.sent if e.type == kind]


def spoken_items(fake: FakeRealtimeServer) -> list[str]:
    added = sent(fake, "response.output_item.added")
    return [e.event["item"]["id"] for e in added if e.event["item"]["type"] == "message"]


def rms_windows(ulaw: bytes) -> list[float]:
    """RMS of each 20 ms window of μ-law 8 kHz audio."""
    pcm = np.frombuffer(ulaw_to_slin(ulaw), dtype="<i2").astype(np.float64)
    whole = len(pcm) - len(pcm) % 160
    windows = pcm[:whole].reshape(-1, 160)
    return [float(v) for v in np.sqrt(np.mean(windows**2, axis=1))]


async def start_call(
    stack: AgentStack, scenario: str, token: str, **context: str
) -> tuple[asyncio.Future[FinishedCall], str, TappedCall]:
    """Launch a call as the scheduler does; its id and what the platform writes to it."""
    request = stack.request(scenario, token, objective="test", **context)
    placing = stack.place(request)
    await wait_until(lambda: len(stack.talkers.talkers) == 1)
    call_id, _talker, written = stack.only_call()
    return placing, call_id, written


# --- the tests -------------------------------------------------------------------------
async def test_ivr_is_navigated_with_dtmf_and_the_call_ends_with_a_transcript(
    stack: AgentStack, fake: FakeRealtimeServer
) -> None:
    fake.script = Script(
        [
            Response(
                [Say(ulaw_tone(300), "Pressing one."), CallFunction("send_dtmf", {"digits": "1"})],
                trigger="speech_stopped",
            ),
            Response(
                [
                    Say(ulaw_tone(600), "Thank you, goodbye."),
                    CallFunction("end_call", {"outcome": "success", "summary": "Chose 1."}),
                ],
                trigger="speech_stopped",
            ),
        ],
        caller_transcripts=["Please enter the number to call.", "You entered one."],
    )
    token = Sandbox.new_token()
    placing, call_id, _written = await start_call(stack, sb.IVR, token)
    result = await asyncio.wait_for(placing, 20)
    far = await stack.sandbox.wait_far_end(token, lambda r: r.has("hangup"))

    # The model heard the prompt: μ-law in, loud exactly while the far end spoke.
    session = fake.session
    assert session.config["audio"]["input"]["format"] == {"type": "audio/pcmu"}
    started = sent(fake, "input_audio_buffer.speech_started")[0]
    stopped = sent(fake, "input_audio_buffer.speech_stopped")[0]
    start_ms, end_ms = started.event["audio_start_ms"], stopped.event["audio_end_ms"]
    prompt_ms = stack.sandbox.prompt_seconds("vm-enter-num-to-call") * 1000
    assert 0.75 * prompt_ms <= end_ms - start_ms <= prompt_ms + 100
    loud = [w > fake.vad_threshold for w in rms_windows(bytes(session.appended_audio))]
    assert not any(loud[: start_ms // FRAME_MS])
    assert sum(loud[start_ms // FRAME_MS : end_ms // FRAME_MS]) >= 0.8 * (end_ms - start_ms) / 20
    assert not any(loud[end_ms // FRAME_MS : end_ms // FRAME_MS + 10])  # the pause after it

    # After the prompt, the model pressed 1; the far end wrote it down; end_call ended it.
    dtmf_call = sent(fake, "response.function_call_arguments.done")[0]
    assert dtmf_call.event["name"] == "send_dtmf"
    assert dtmf_call.at > stopped.at
    assert far.digits == ["1"]
    assert result.status == CallStatus.COMPLETED
    assert (result.end_reason, result.ended_by) == ("talker_finished", EndedBy.AGENT)
    assert result.agent_outcome is AgentOutcome.SUCCESS
    row = await call_row(stack, call_id)
    assert FinishedCall.from_row(row) == result  # on_done was handed the row as written
    assert (row.status, row.outcome, row.summary) == (CallStatus.COMPLETED, "success", "Chose 1.")
    assert row.latency_ms
    assert all(ms > 0 for ms in row.latency_ms)
    assert row.agent_audio_generated_ms >= row.agent_audio_played_ms > 0

    # Both sides of the conversation, in order, with their times.
    said = [(t.speaker, t.text) for t in await call_turns(stack, call_id)]
    assert said == [
        ("callee", "Please enter the number to call."),
        ("agent", "Pressing one."),
        ("callee", "You entered one."),
        ("agent", "Thank you, goodbye."),
    ]
    for turn in await call_turns(stack, call_id):
        assert turn.started_at is not None
        assert turn.ended_at is not None
        assert turn.started_at <= turn.ended_at


async def test_barge_in_flushes_within_40_ms_and_truncates_at_what_was_played(
    asterisk_sandbox: Sandbox, tmp_path: Path
) -> None:
    # Audio streamed at twice real time: the greeting is still arriving when it is cut. The
    # agent speaks first here (greet_after=0), so the callee's talking cuts it off.
    script = Script([Response([Say(ulaw_tone(4000), "Hello, I am an AI assistant.")])])
    options = BridgeOptions(greet_after=0.0)
    async with (
        FakeRealtimeServer(script, chunk_interval=0.05) as fake,
        agent_stack(asterisk_sandbox, tmp_path, fake, options=options) as stack,
    ):
        token = Sandbox.new_token()
        placing, call_id, written = await start_call(stack, sb.TALKS_OVER, token)
        truncates = await fake.wait_for("conversation.item.truncate", timeout=15)
        await asyncio.sleep(0.3)  # anything the agent still said after the cut is written now
        speech = sent(fake, "input_audio_buffer.speech_started")[0].at
        played = written.voiced()
        cut_ms = (played[-1].at - speech) * 1000
        print(f"barge-in: last agent frame {cut_ms:.1f} ms after the callee spoke")
        assert cut_ms < 40  # the agent stopped within 40 ms; nothing voiced came after

        [truncate] = truncates
        greeting = spoken_items(fake)[0]
        played_ms = len(played) * FRAME_MS
        print(f"truncate: audio_end_ms {truncate.event['audio_end_ms']}, played {played_ms} ms")
        assert truncate.event["item_id"] == greeting
        assert truncate.event["audio_end_ms"] == played_ms
        assert 0 < played_ms < 4000
        [ack] = sent(fake, "conversation.item.truncated")
        assert ack.event["audio_end_ms"] == played_ms
        assert stack.sandbox.far_end(token).has("talking")

        await stack.bus.publish(call_id, Hangup(reason="test done"))
        result = await asyncio.wait_for(placing, 10)
    assert result.status == CallStatus.COMPLETED
    # The record says what the callee heard, and that the model had said more.
    assert result.agent_audio_played_ms == played_ms
    assert result.agent_audio_generated_ms > played_ms


async def next_event(events: Any, kind: str, timeout: float = 10.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        async for event in events:
            if event.type == kind:
                return event.model_dump()
    raise AssertionError(f"no {kind} event")


async def test_request_user_feedback_answer_reaches_the_model_and_the_agent_goes_on(
    asterisk_sandbox: Sandbox, tmp_path: Path, fake: FakeRealtimeServer, redis_url: str
) -> None:
    question = "Is Tuesday at 3 pm fine?"
    fake.script = Script(
        [
            Response(
                [
                    Say(ulaw_tone(400), "Let me check that with Dana."),
                    CallFunction("request_user_feedback", {"question": question}),
                ]
            ),
            Response(
                [
                    Say(ulaw_tone(600), "Tuesday at 3 works for Dana."),
                    CallFunction("end_call", {"outcome": "success", "summary": "Tuesday 3 pm."}),
                ]
            ),
        ]
    )
    async with (
        agent_stack(asterisk_sandbox, tmp_path, fake, redis_url=redis_url) as stack,
        stack.bus.subscribe_events(stack.user_id) as events,
    ):
        placing, call_id, written = await start_call(stack, sb.SILENT, Sandbox.new_token())
        asked = await next_event(events, "feedback_request")
        assert (asked["call_id"], asked["question"]) == (call_id, question)
        async with stack.sessions() as s:
            [row] = await feedback.list_open(s, user_id=stack.user_id, call_id=call_id)
        assert (row.id, row.question, row.status) == (asked["request_id"], question, "open")

        await wait_until(lambda: len(written.voiced()) * FRAME_MS == 400)  # "let me check"
        # What the web app will do: answer the row, then tell the call on its channel.
        answered_at = time.monotonic()
        async with stack.sessions() as s, s.begin():
            assert await feedback.answer(
                s, user_id=stack.user_id, request_id=row.id, answer="Yes, Tuesday is fine."
            )
        assert (
            await stack.bus.publish(
                call_id, FeedbackAnswer(request_id=row.id, answer="Yes, Tuesday is fine.")
            )
            == 1
        )
        result = await asyncio.wait_for(placing, 15)
        async with stack.sessions() as s:
            stored = await feedback.get(s, user_id=stack.user_id, request_id=row.id)

    [output] = [
        e.event["item"]
        for e in fake.received("conversation.item.create")
        if e.event["item"]["type"] == "function_call_output"
    ]
    asked_call = sent(fake, "response.function_call_arguments.done")[0].event
    assert output["call_id"] == asked_call["call_id"]
    assert json.loads(output["output"]) == {"answered": True, "answer": "Yes, Tuesday is fine."}
    # The agent kept talking: the whole reply was written to Asterisk after the answer.
    assert len(written.voiced(after=answered_at)) * FRAME_MS == 600
    assert (result.status, result.outcome) == (CallStatus.COMPLETED, "success")
    assert stored is not None
    assert stored.status == FeedbackStatus.ANSWERED


async def test_transfer_to_user_connects_the_far_end_and_the_agent_leaves(
    asterisk_sandbox: Sandbox, tmp_path: Path, fake: FakeRealtimeServer
) -> None:
    person = Sandbox.new_token()
    phone = "+" + asterisk_sandbox.number(sb.TRANSFER_TARGET, person)
    fake.script = Script(
        [
            Response(
                [Say(ulaw_tone(300), "Connecting you to Dana."), CallFunction("transfer_to_user")]
            )
        ]
    )
    async with agent_stack(
        asterisk_sandbox, tmp_path, fake, user_phone=phone, phone_verified=True
    ) as stack:
        callee = Sandbox.new_token()
        placing, call_id, _written = await start_call(stack, sb.SILENT, callee)
        await stack.sandbox.wait_far_end(person, lambda r: r.reached, timeout=10)
        talker = stack.talkers.talkers[call_id]
        await wait_until(lambda: talker.bridge.result is not None, timeout=5)
        assert talker.bridge.result.reason == "caller_hangup"  # the AudioSocket leg ended
        assert stack.audio_server.sessions_active == 0
        assert not placing.done()  # the callee is on the line, now with the person
        assert not stack.sandbox.far_end(callee).has("hangup")
        await stack.bus.publish(call_id, Hangup(reason="test done"))
        result = await asyncio.wait_for(placing, 10)
        row = await call_row(stack, call_id)
    assert (result.status, result.outcome) == (CallStatus.COMPLETED, "transferred")
    assert (result.transferred, result.ended_by) == (True, EndedBy.PLATFORM)  # our hangup
    assert (row.outcome, row.transferred) == ("transferred", True)
    [output] = [
        e.event["item"]["output"]
        for e in fake.received("conversation.item.create")
        if e.event["item"]["type"] == "function_call_output"
    ]
    assert json.loads(output) == {"transferring": True}


@pytest.mark.parametrize("failure", ["stall", "drop"])
async def test_a_silent_or_dropped_model_ends_the_call_with_ai_failure(
    asterisk_sandbox: Sandbox, tmp_path: Path, fake: FakeRealtimeServer, failure: str
) -> None:
    # stall_timeout is 10 s in production; 1 s here keeps the test fast (same code path).
    step = Stall() if failure == "stall" else Drop()
    fake.script = Script([Response([Say(ulaw_tone(300), "Hello."), step])])
    options = BridgeOptions(stall_timeout=1.0)
    async with agent_stack(asterisk_sandbox, tmp_path, fake, options=options) as stack:
        token = Sandbox.new_token()
        placing, call_id, _written = await start_call(stack, sb.SILENT, token)
        result = await asyncio.wait_for(placing, 15)
        row = await call_row(stack, call_id)
        bridge = stack.talkers.talkers[call_id].bridge
    assert bridge.result is not None
    assert bridge.result.reason == ("model_stalled" if failure == "stall" else "model_closed")
    assert (result.status, result.outcome) == (CallStatus.AI_FAILURE, "ai_failure")
    assert result.ended_by is EndedBy.PLATFORM  # the agent hung up because we failed
    assert (row.status, row.outcome) == (CallStatus.AI_FAILURE, "ai_failure")
    # We hung up: the far end was left long before its own 8 s of silence ran out.
    far = await asterisk_sandbox.wait_far_end(token, lambda r: r.has("hangup"))
    assert far.duration is not None
    assert far.duration < 5


async def test_a_silent_callee_is_greeted_by_the_prewarmed_agent_2_s_after_answering(
    stack: AgentStack, fake: FakeRealtimeServer
) -> None:
    """The callee speaks first; one who says nothing for 2 s is greeted then, by a session
    opened and configured while the phone rang (so the greeting costs no connect time)."""
    fake.script = Script(
        [
            Response(
                [
                    Say(ulaw_tone(500), "Hello, I am an AI assistant calling for Dana."),
                    CallFunction("end_call", {"outcome": "failure", "summary": "Greeted."}),
                ]
            )
        ]
    )
    placing, _call_id, written = await start_call(stack, sb.RINGS_FIRST, Sandbox.new_token())
    result = await asyncio.wait_for(placing, 15)
    assert result.answered, f"far end 212 missing from the running sandbox? {result}"
    connected = written.connected_at  # Asterisk's AudioSocket connection arrived
    assert connected is not None
    first = written.voiced()[0].at
    configured = sent(fake, "session.updated")[0].at
    print(
        f"greeting: first frame {(first - connected) * 1000:.1f} ms after connect; "
        f"session ready {(connected - configured) * 1000:.0f} ms before connect"
    )
    assert configured < connected  # opened and configured while the phone rang
    greet_after = BridgeOptions().greet_after
    assert greet_after is not None
    assert greet_after <= first - connected < greet_after + 0.300
    assert result.outcome == "failure"
    assert result.answered_by is None  # nobody spoke: neither a person nor a machine heard
