"""The bridge and the callee: who speaks first, answering machines, hold (fake model).

Caller audio is synthetic (tests/audio/signals.py) and fed faster than real time; the
callee detectors run on audio time, so what they decide does not depend on the pace.
"""

from __future__ import annotations

import json
import time

import pytest
from openai import AsyncOpenAI

from audio_processing.realtime.bridge import BridgeOptions
from audio_processing.realtime.callee_modes import CalleeHandling
from audio_processing.realtime.hold_mode import BACK_FROM_HOLD
from audio_processing.talker_result import AnsweredBy, TalkerEnd
from audio_processing.voicemail_message import message_instructions
from common.call_outcomes import AgentOutcome
from common.call_policy import VoicemailPolicy
from tests.audio.signals import music, silence, syllables, tone
from tests.realtime.bridge_support import Sink, hang_up, start, until
from tests.realtime.conftest import PacedCall, ulaw_tone
from tests.support.fake_realtime import CallFunction, FakeRealtimeServer, Response, Say, Script

FAST = 0.004  # seconds per fed 20 ms frame
MESSAGE = "Hello, this is an AI assistant calling on behalf of Dana about a cleaning."


def creates(fake: FakeRealtimeServer) -> list[float]:
    return [e.at for e in fake.received("response.create")]


def appended_ms(fake: FakeRealtimeServer, after: float = 0.0, before: float = 1e18) -> float:
    """Caller audio the model got in that time (μ-law: 8 bytes per ms; base64 4/3)."""
    appends = fake.received("input_audio_buffer.append")
    return sum(len(e.event["audio"]) * 3 / 4 / 8 for e in appends if after <= e.at < before)


def replayed_ms(fake: FakeRealtimeServer, after: float) -> float:
    """Audio replayed to the model: it goes in appends of many frames (live audio goes
    input_batch_frames 20 ms frames at a time; +1 ms: base64's padding)."""
    live_ms = BridgeOptions().input_batch_frames * 20 + 1
    appends = [e for e in fake.received("input_audio_buffer.append") if e.at > after]
    sizes = [len(e.event["audio"]) * 3 / 4 / 8 for e in appends]
    return sum(ms for ms in sizes if ms > live_ms)


# --- who speaks first -------------------------------------------------------------------
async def test_the_agent_lets_the_callee_speak_and_answers_their_first_pause(
    client: AsyncOpenAI, fake: FakeRealtimeServer, call: PacedCall
) -> None:
    fake.script = Script([Response([Say(ulaw_tone(300), "Hi, I am an AI assistant.")])])
    bridge, task = await start(client, call)
    await call.feed(silence(400) + syllables(700) + silence(1000), interval=FAST)
    stopped = next(e.at for e in fake.session.sent if e.type == "input_audio_buffer.speech_stopped")
    await until(lambda: creates(fake))
    assert creates(fake)[0] >= stopped  # asked for only once the callee paused
    await until(lambda: len(call.voiced()) * 20 == 300)
    await hang_up(call, task)
    assert len(creates(fake)) == 1  # the server never answered on its own
    assert bridge.result is not None
    assert bridge.result.answered_by is AnsweredBy.PERSON


async def test_a_callee_who_says_nothing_is_greeted_after_greet_after(
    client: AsyncOpenAI, fake: FakeRealtimeServer, call: PacedCall
) -> None:
    fake.script = Script([Response([Say(ulaw_tone(200), "Hello?")])])
    bridge, task = await start(client, call, greet_after=0.4)
    began = time.monotonic()
    await until(lambda: creates(fake))  # Asterisk sends nothing: the bridge fills silence
    assert 0.4 <= creates(fake)[0] - began < 1.0
    await until(lambda: call.voiced())
    await call.feed(silence(3000), interval=FAST)  # quiet again: no second greeting
    await hang_up(call, task)
    assert len(creates(fake)) == 1
    assert bridge.result is not None
    assert bridge.result.answered_by is None  # nobody spoke


# --- answering machines ------------------------------------------------------------------
def machine(policy: VoicemailPolicy) -> CalleeHandling:
    return CalleeHandling(voicemail=policy, voicemail_message=MESSAGE)


@pytest.mark.parametrize(
    "policy", [VoicemailPolicy.HANG_UP_AND_RETRY, VoicemailPolicy.NOTIFY_PERSON]
)
async def test_a_beep_after_a_greeting_hangs_up_at_once_without_a_word(
    client: AsyncOpenAI, fake: FakeRealtimeServer, call: PacedCall, policy: VoicemailPolicy
) -> None:
    bridge, task = await start(client, call, handling=machine(policy))
    await call.feed(syllables(4000) + silence(100) + tone(450, 700) + silence(800), interval=FAST)
    await until(lambda: task.done())
    result = bridge.result
    assert result is not None
    assert (result.reason, result.agent_outcome) == (TalkerEnd.MACHINE, AgentOutcome.VOICEMAIL)
    assert (result.answered_by, result.message_left) == (AnsweredBy.MACHINE, False)
    assert not result.reason.is_failure
    assert call.voiced() == []  # the agent said nothing to the machine
    assert call.audio.hangup_requested
    assert creates(fake) == []


async def test_leave_message_waits_for_the_beep_says_the_message_then_hangs_up(
    client: AsyncOpenAI, fake: FakeRealtimeServer, call: PacedCall
) -> None:
    fake.script = Script([Response([Say(ulaw_tone(1500), MESSAGE)], trigger="response.create")])
    sink = Sink()
    handling = machine(VoicemailPolicy.LEAVE_MESSAGE)
    bridge, task = await start(client, call, sink=sink, handling=handling)
    await call.feed(syllables(4000) + silence(100) + tone(450, 700), interval=FAST)
    beep_over = fake.received("input_audio_buffer.append")[-1].at
    await call.feed(silence(600), interval=FAST)
    await until(lambda: task.done(), timeout=10)
    [asked] = fake.session.response_params
    assert asked == {"instructions": message_instructions(MESSAGE), "tool_choice": "none"}
    assert creates(fake)[0] >= beep_over
    assert call.voiced()[0][0] >= beep_over  # nothing said over the greeting or the beep
    result = bridge.result
    assert result is not None
    assert (result.reason, result.answered_by, result.message_left) == (
        TalkerEnd.MACHINE,
        AnsweredBy.MACHINE,
        True,
    )
    assert result.agent_audio_played_ms == 1500  # all of it, then the hangup
    assert [(t.speaker, t.text) for t in sink.turns] == [("agent", MESSAGE)]


async def test_the_models_report_after_a_short_hello_is_not_taken_for_a_machine(
    client: AsyncOpenAI, fake: FakeRealtimeServer, call: PacedCall
) -> None:
    fake.script = Script(
        [
            Response([CallFunction("report_voicemail")], trigger="speech_stopped"),
            Response([Say(ulaw_tone(200), "Hi, is this Dana's dentist?")]),
        ]
    )
    bridge, task = await start(client, call, handling=machine(VoicemailPolicy.HANG_UP_AND_RETRY))
    await call.feed(syllables(700) + silence(1200), interval=FAST)
    await until(lambda: len(creates(fake)) == 2)  # the model goes on: a person is there
    [output] = [
        json.loads(e.event["item"]["output"])
        for e in fake.received("conversation.item.create")
        if e.event["item"]["type"] == "function_call_output"
    ]
    assert output["voicemail"] is False
    await until(lambda: len(call.voiced()) * 20 == 200)
    await hang_up(call, task)
    assert bridge.result is not None
    assert bridge.result.answered_by is AnsweredBy.PERSON


async def test_the_models_report_after_a_long_greeting_is_a_machine_even_with_no_beep(
    client: AsyncOpenAI, fake: FakeRealtimeServer, call: PacedCall
) -> None:
    fake.script = Script(
        [
            Response([CallFunction("report_voicemail")], trigger="speech_stopped"),
            Response([Say(ulaw_tone(1200), MESSAGE)], trigger="response.create"),
        ]
    )
    handling = machine(VoicemailPolicy.LEAVE_MESSAGE)
    bridge, task = await start(client, call, handling=handling, beep_wait=0.3)
    await call.feed(syllables(4000) + silence(1000), interval=FAST)
    await until(lambda: task.done(), timeout=10)  # no beep came: the message after 0.3 s
    result = bridge.result
    assert result is not None
    assert (result.reason, result.answered_by, result.message_left) == (
        TalkerEnd.MACHINE,
        AnsweredBy.MACHINE,
        True,
    )
    assert fake.session.response_params[-1]["tool_choice"] == "none"


# --- hold --------------------------------------------------------------------------------
async def test_music_puts_the_call_on_hold_and_a_person_takes_it_off(
    client: AsyncOpenAI, fake: FakeRealtimeServer, call: PacedCall
) -> None:
    fake.script = Script(
        [Response([Say(ulaw_tone(300), "Thanks, I'm calling about")], trigger="speech_stopped")]
    )
    sink = Sink()
    bridge, task = await start(client, call, sink=sink)
    await call.feed(syllables(1500) + music(8000), interval=FAST)
    [cleared] = fake.received("input_audio_buffer.clear")
    assert call.audio.silence_expected  # a silent hold must not end the call
    held = fake.received("input_audio_buffer.append")[-1].at
    assert appended_ms(fake, after=cleared.at) <= 60  # nothing more of the music
    await call.feed(syllables(1400, seed=7) + silence(1500), interval=FAST)
    await until(lambda: call.voiced())
    assert not call.audio.silence_expected
    told = [e for e in fake.received("conversation.item.create") if e.at > held]
    assert told[0].event["item"]["role"] == "system"
    assert told[0].event["item"]["content"][0]["text"] == BACK_FROM_HOLD
    assert 1500 <= replayed_ms(fake, after=held) <= 2500  # their last words, the quiet after
    assert creates(fake)[0] > told[0].at  # the model answered the person, never the music
    await hang_up(call, task)
    on, off = sink.holds
    assert (on.on_hold, off.on_hold) == (True, False)
    assert off.held_ms > 0
    assert 6000 <= off.avoided_ms <= 8000 + 1400  # the music the model never got
    result = bridge.result
    assert result is not None
    assert result.hold_ms == off.held_ms
    assert result.model_audio_avoided_ms >= off.avoided_ms


async def test_report_on_hold_stops_the_model_listening_at_once_and_asks_nothing(
    client: AsyncOpenAI, fake: FakeRealtimeServer, call: PacedCall
) -> None:
    fake.script = Script(
        [Response([Say(ulaw_tone(200), "Sure, I'll wait."), CallFunction("report_on_hold")])]
    )
    bridge, task = await start(client, call, greet_after=0.0)
    await fake.wait_for("input_audio_buffer.clear")
    await until(lambda: len(call.voiced()) * 20 == 200)  # "sure, I'll wait" is still heard
    before = appended_ms(fake)
    await call.feed(silence(2000), interval=FAST)
    assert appended_ms(fake) - before <= 40
    assert len(creates(fake)) == 1
    await hang_up(call, task)
    assert bridge.result is not None
    assert bridge.result.reason is TalkerEnd.CALLER_HANGUP


async def test_a_hold_past_the_campaigns_limit_ends_the_call(
    client: AsyncOpenAI, fake: FakeRealtimeServer, call: PacedCall
) -> None:
    fake.script = Script([Response([CallFunction("report_on_hold")])])
    handling = CalleeHandling(max_hold_s=0.5)
    bridge, task = await start(client, call, handling=handling, greet_after=0.0)
    await until(lambda: task.done(), timeout=5)  # the filled silence keeps the clock
    result = bridge.result
    assert result is not None
    assert result.reason is TalkerEnd.HOLD_TIMEOUT
    assert not result.reason.is_failure
    assert result.hold_ms >= 500
