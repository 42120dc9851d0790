"""Answering machines, people and hold queues on real calls (issue 12's "done when").

Each call goes through the sandbox's loopback trunk to a scripted far end and comes back
over AudioSocket to the production AgentTalkerFactory, whose session reaches the strict
fake model (its VAD waits 500 ms of quiet, as the session's server VAD does). What the
platform wrote is recorded by the AudioSocketTap (time.monotonic()); the far end writes
down its own moments ("mark NAME <epoch>"); both clocks are this host's, converted here.
"""

from __future__ import annotations

import asyncio
import time
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from audio_processing.realtime.bridge import BridgeOptions
from audio_processing.talker_result import AnsweredBy
from call_processor.finished_call import EndedBy, FinishedCall
from common.call_outcomes import AgentOutcome
from common.call_policy import CallPolicy, VoicemailPolicy
from common.commands import Hangup
from database.states import CallStatus
from task_manager.call_judge import Decision
from task_manager.call_launcher import PlannedCall
from task_manager.post_call_analyzer import PostCallAnalyzer
from tests.agent.conftest import AgentStack, agent_stack
from tests.calls.conftest import wait_until
from tests.realtime.conftest import ulaw_tone
from tests.support import sandbox as sb
from tests.support.audiosocket_tap import TappedCall
from tests.support.fake_realtime import (
    CallFunction,
    FakeRealtimeServer,
    Hang,
    Response,
    Say,
    Script,
)
from tests.support.fake_twilio import LocalHttpServer
from tests.support.sandbox import Sandbox
from tests.task_manager.test_post_call_analyzer import FakeChat, judge_for

pytestmark = pytest.mark.sandbox

FRAME_MS = 20
SERVER_VAD_MS = 500  # the session's silence_duration_ms: the fake's VAD waits as long
RUNS = 20
JUDGE_SAYS_SUCCESS = {
    "decision": "success", "reason": "someone answered", "retry_after_minutes": None,
    "result": [], "notes_for_next_attempt": "",
}  # fmt: skip


def mono(epoch: float) -> float:
    """A far-end epoch on the tap's and the fake model's clock (time.monotonic())."""
    return epoch - (time.time() - time.monotonic())


def greet_then_end() -> Script:
    """The agent answers the callee's first turn, then ends the call."""
    return Script(
        [
            Response(
                [
                    Say(ulaw_tone(400), "Hello, I am an AI assistant calling for Dana."),
                    CallFunction("end_call", {"outcome": "failure", "summary": "Greeted."}),
                ],
                trigger="speech_stopped",
            )
        ]
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeRealtimeServer]:
    async with FakeRealtimeServer(vad_hangover_ms=SERVER_VAD_MS) as server:
        yield server


async def place(
    stack: AgentStack, scenario: str, policy: CallPolicy | None = None
) -> tuple[FinishedCall, str, TappedCall, str]:
    """One call to a far end, the campaign's policy in its context, to its end."""
    token = Sandbox.new_token()
    context = {"objective": "book a cleaning", **(policy or CallPolicy()).to_context()}
    placing = stack.place(stack.request(scenario, token, **context))
    finished = await asyncio.wait_for(placing, 60)
    assert finished.call_id is not None
    return finished, finished.call_id, stack.tap.call(finished.call_id), token


def appended_ms(fake: FakeRealtimeServer, after: float, before: float) -> float:
    """Caller audio the model received in that time (μ-law, 8 bytes per ms)."""
    appends = fake.received("input_audio_buffer.append")
    return sum(len(e.event["audio"]) * 3 / 4 / 8 for e in appends if after <= e.at < before)


def voiced_ms_of_wav(path: Path) -> int:
    """20 ms windows of a recording that carry sound (the agent's voice is a tone)."""
    with wave.open(str(path), "rb") as recording:
        assert (recording.getframerate(), recording.getsampwidth()) == (8000, 2)
        pcm = np.frombuffer(recording.readframes(recording.getnframes()), dtype="<i2")
    windows = pcm[: len(pcm) - len(pcm) % 160].reshape(-1, 160).astype(np.float64)
    return int(np.sum(np.sqrt(np.mean(windows**2, axis=1)) > 500)) * FRAME_MS


# --- answering machines --------------------------------------------------------------------
async def test_a_voicemail_is_hung_up_on_in_silence_and_never_a_success(
    asterisk_sandbox: Sandbox, tmp_path: Path, fake: FakeRealtimeServer
) -> None:
    async with agent_stack(asterisk_sandbox, tmp_path, fake) as stack:
        finished, _call_id, written, token = await place(stack, sb.VOICEMAIL)
        far = await asterisk_sandbox.wait_far_end(token, lambda r: r.has("hangup"))
        chat = FakeChat(JUDGE_SAYS_SUCCESS)
        async with LocalHttpServer(chat.handle) as server:
            judge = judge_for(server)
            planned = PlannedCall(stack.user_id, 1, "+1", 1, context=CallPolicy().to_context())
            verdict = await PostCallAnalyzer(stack.sessions, judge).decide(planned, finished)
            await judge.client.close()
    assert (finished.status, finished.outcome) == (CallStatus.COMPLETED, "voicemail")
    assert (finished.answered_by, finished.message_left) == (AnsweredBy.MACHINE, False)
    assert finished.agent_outcome is AgentOutcome.VOICEMAIL
    assert finished.ended_by is EndedBy.AGENT
    assert written.voiced() == []  # not a word to the machine
    assert "beep" in far.played  # hung up once the beep had told us
    assert (verdict.decision, verdict.source) == (Decision.RETRY, "rule")
    assert chat.bodies == []  # the judge was never asked to read a voicemail


async def test_leave_message_speaks_after_the_beep_into_the_recording(
    asterisk_sandbox: Sandbox, tmp_path: Path, fake: FakeRealtimeServer
) -> None:
    fake.script = Script(
        [Response([Say(ulaw_tone(2500), "A message.")], trigger="response.create")]
    )
    policy = CallPolicy(VoicemailPolicy.LEAVE_MESSAGE, message_counts=True)
    async with agent_stack(asterisk_sandbox, tmp_path, fake) as stack:
        finished, _call_id, written, token = await place(stack, sb.VOICEMAIL, policy)
        far = await asterisk_sandbox.wait_far_end(token, lambda r: r.has("hangup"))
        verdict = await PostCallAnalyzer(stack.sessions).decide(
            PlannedCall(stack.user_id, 1, "+1", 1, context=policy.to_context()), finished
        )
    recording = asterisk_sandbox.results_dir / f"{token}-message.wav"
    heard = voiced_ms_of_wav(recording)
    answered = far.answered_at
    assert answered is not None
    greeting_ends = (
        answered + Sandbox().prompt_seconds("vm-intro") + Sandbox().prompt_seconds("beep")
    )
    first = written.voiced()[0].at
    print(
        f"message: {heard} ms recorded, "
        f"first word {first - mono(greeting_ends):.2f} s after the beep"
    )
    assert far.has("recording")
    assert heard >= 2000  # the far end's recording holds the message...
    assert first >= mono(greeting_ends)  # ...spoken only once the beep was over
    assert (finished.answered_by, finished.message_left) == (AnsweredBy.MACHINE, True)
    assert verdict.decision is Decision.SUCCESS  # this campaign counts a left message


# --- people ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("scenario", "words"),
    [(sb.HELLO, ("hello",)), (sb.PERSON, ("hello-world", "tt-weasels"))],
    ids=["short-hello", "long-greeting"],
)
async def test_people_are_never_taken_for_machines_and_answered_within_1_s_of_their_pause(
    asterisk_sandbox: Sandbox,
    tmp_path: Path,
    scenario: str,
    words: tuple[str, ...],
) -> None:
    delays: list[float] = []
    async with (
        FakeRealtimeServer(
            script_per_session=greet_then_end, vad_hangover_ms=SERVER_VAD_MS
        ) as fake,
        agent_stack(asterisk_sandbox, tmp_path, fake, max_calls=4) as stack,
    ):
        for batch in range(RUNS // 4):
            runs = await asyncio.gather(*(place(stack, scenario) for _ in range(4)))
            for finished, _call_id, written, token in runs:
                far = await asterisk_sandbox.wait_far_end(token, lambda r: r.has("hangup"))
                assert finished.answered_by is AnsweredBy.PERSON, (batch, finished)
                assert finished.agent_outcome is AgentOutcome.FAILURE  # the scripted end_call
                delays.append(written.voiced()[0].at - mono(_pause(far, words)))
    print(f"first words after the pause (s): {sorted(round(d, 2) for d in delays)}")
    assert len(delays) == RUNS
    assert all(0 < d <= 1.0 for d in delays)


def _pause(far: sb.FarEndResult, words: tuple[str, ...]) -> float:
    """When the callee's words ended: their mark when they have one, else answer + prompts."""
    if far.marks("spoke"):
        return far.mark("spoke")
    answered = far.answered_at
    assert answered is not None
    return answered + sum(Sandbox().prompt_seconds(w) for w in words)


# --- hold --------------------------------------------------------------------------------
async def test_a_hold_queue_costs_no_model_audio_and_the_person_is_answered_at_once(
    asterisk_sandbox: Sandbox, tmp_path: Path, fake: FakeRealtimeServer
) -> None:
    fake.script = greet_then_end()
    async with agent_stack(asterisk_sandbox, tmp_path, fake) as stack:
        finished, _call_id, written, token = await place(stack, sb.HOLD)
        far = await asterisk_sandbox.wait_far_end(token, lambda r: r.has("hangup"))
        held_metric = stack.metric("opendeep_hold_seconds_total")
        avoided_metric = stack.metric("opendeep_model_audio_avoided_seconds_total")
    hold, person, spoke = (mono(far.mark(m)) for m in ("hold", "person", "spoke"))
    during = appended_ms(fake, hold, person)
    replies = [e.at for e in fake.received("response.create")]
    first = written.voiced()[0].at
    print(
        f"hold {person - hold:.1f} s: {during:.0f} ms to the model "
        f"({during / (person - hold) / 10:.1f}%); agent {first - spoke:.2f} s after the person"
    )
    assert len(far.marks("announcement")) == 3
    assert during <= 0.10 * (person - hold) * 1000
    assert written.voiced(after=hold, before=person) == []  # no reply to the announcements
    assert all(at > person for at in replies)
    assert spoke < first <= spoke + 1.5
    assert finished.answered_by is AnsweredBy.PERSON
    assert finished.hold_seconds is not None
    assert finished.hold_seconds >= 0.8 * (person - hold)
    assert held_metric >= 0.8 * (person - hold)
    assert avoided_metric >= 0.8 * (person - hold)


async def test_a_silent_hold_outlives_the_audiosocket_idle_timeout(
    asterisk_sandbox: Sandbox, tmp_path: Path, fake: FakeRealtimeServer
) -> None:
    """The silent far end (208, 8 s, sends nothing) puts us on hold: the call lasts until it
    hangs up, though nothing arrives for longer than AUDIOSOCKET_IDLE_TIMEOUT (3 s here)."""
    fake.script = Script(
        [Response([Say(ulaw_tone(300), "Sure, I'll hold."), CallFunction("report_on_hold")])]
    )
    async with agent_stack(asterisk_sandbox, tmp_path, fake, idle_timeout=3.0) as stack:
        finished, _call_id, _written, token = await place(stack, sb.SILENT)
        far = await asterisk_sandbox.wait_far_end(token, lambda r: r.has("hangup"))
    assert (finished.end_reason, finished.ended_by) == ("far_end_hangup", EndedBy.FAR_END)
    assert far.duration is not None
    assert far.duration >= 7.5  # the far end's own 8 s, not our idle timeout's 3 s


# --- transfer and stall ------------------------------------------------------------------
async def test_the_whole_transfer_announcement_is_heard_before_the_person_rings(
    asterisk_sandbox: Sandbox, tmp_path: Path, fake: FakeRealtimeServer
) -> None:
    person = Sandbox.new_token()
    phone = "+" + asterisk_sandbox.number(sb.TRANSFER_TARGET, person)
    fake.script = Script(
        [Response([Say(ulaw_tone(800), "Connecting you now."), CallFunction("transfer_to_user")])]
    )
    async with agent_stack(
        asterisk_sandbox, tmp_path, fake, user_phone=phone, phone_verified=True
    ) as stack:
        token = Sandbox.new_token()
        placing = stack.place(stack.request(sb.SILENT, token, objective="test"))
        target = await asterisk_sandbox.wait_far_end(person, lambda r: r.reached, timeout=15)
        await wait_until(lambda: len(stack.talkers.talkers) == 1)
        call_id = next(iter(stack.talkers.talkers))
        written = stack.tap.call(call_id)
        await stack.bus.publish(call_id, Hangup(reason="test done"))
        await asyncio.wait_for(placing, 10)
    announced = written.voiced()
    rang = target.answered_at
    assert rang is not None
    print(
        f"announcement {len(announced) * FRAME_MS} ms, "
        f"over {mono(rang) - announced[-1].at:.2f} s before the person answered"
    )
    assert len(announced) * FRAME_MS == 800  # all of it...
    assert announced[-1].at < mono(rang)  # ...before the person's phone was reached


async def test_a_stalled_model_with_a_talking_callee_hangs_up_within_the_stall_timeout(
    asterisk_sandbox: Sandbox, tmp_path: Path
) -> None:
    """202 talks 4.4 s; the fake's VAD (150 ms) cuts that into turns, each answered by
    nothing. Its VAD events go on while the model owes an answer."""
    stall = 2.0
    script = Script([Response([Hang()], trigger="speech_stopped")])
    async with (
        FakeRealtimeServer(script, vad_hangover_ms=150) as fake,
        agent_stack(
            asterisk_sandbox, tmp_path, fake, options=BridgeOptions(stall_timeout=stall)
        ) as stack,
    ):
        finished, _call_id, _written, token = await place(stack, sb.PERSON)
        far = await asterisk_sandbox.wait_far_end(token, lambda r: r.has("hangup"))
    asked = fake.received("response.create")[0].at
    hung_up = far.hangup_at
    assert hung_up is not None
    vad = [e.at for e in fake.session.sent if e.type == "input_audio_buffer.speech_started"]
    print(f"hung up {mono(hung_up) - asked:.2f} s after the first unanswered turn")
    assert any(asked < at < mono(hung_up) for at in vad)  # the callee talked meanwhile
    assert mono(hung_up) - asked <= stall + 1.0
    assert (finished.status, finished.outcome) == (CallStatus.AI_FAILURE, "ai_failure")
