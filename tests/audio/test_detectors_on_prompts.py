"""The callee detectors on the sandbox's real prompts, heard as a call delivers them.

Each far end is called once per module through the real platform (AMI, the loopback SIP
trunk, AudioSocket), and the caller audio is kept exactly as the bridge gets it: 20 ms
frames of slin, silence filled in while Asterisk sends nothing. The prompts are GSM files
in the sandbox, so this is their real sound after a codec: what the thresholds in
audio_processing/beep_detector.py and hold_detector.py were measured on. Times are checked
against the far end's own notes (the same host's clock).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from audio_processing.beep_detector import (
    MIN_TONE_MS,
    WHOLE_FRAMES_SLACK_MS,
    BeepDetector,
    BeepRules,
    find_beeps,
)
from audio_processing.callee_watch import CalleeWatch, Heard
from audio_processing.frame_features import measure
from audio_processing.greeting import Greeting
from audio_processing.hold_detector import MusicWatch
from call_processor.call_initiator import CallRequest
from tests.calls.conftest import call_stack
from tests.support import sandbox as sb
from tests.support.listening_talker import ListeningFactory
from tests.support.sandbox import FarEndResult, Sandbox

pytestmark = pytest.mark.sandbox

FRAME = 320
LISTEN = {sb.PERSON: 8.0, sb.VOICEMAIL: 9.0, sb.HELLO: 4.0, sb.HOLD: 31.0}


@dataclass(frozen=True)
class Recorded:
    pcm: bytes
    started_at: float  # epoch of the first frame
    far: FarEndResult

    def frames(self) -> list[bytes]:
        return [self.pcm[i : i + FRAME] for i in range(0, len(self.pcm) - FRAME + 1, FRAME)]

    def epoch(self, frame_index: int) -> float:
        """When a frame (by index) was heard, on the far end's clock."""
        return self.started_at + frame_index * 0.020


async def _record(sandbox: Sandbox, data_dir: Path) -> dict[str, Recorded]:
    numbers = {scenario: "+" + sandbox.number(scenario, Sandbox.new_token()) for scenario in LISTEN}
    factory = ListeningFactory(seconds_for={numbers[s]: seconds for s, seconds in LISTEN.items()})
    async with call_stack(
        sandbox, data_dir, make_talkers=lambda _p: factory, max_calls=len(LISTEN)
    ) as stack:
        calls = [
            stack.place(CallRequest(user_id=stack.user_id, phone_number=number))
            for number in numbers.values()
        ]
        await asyncio.wait_for(asyncio.gather(*calls), max(LISTEN.values()) + 20)
    recorded = {}
    for scenario, number in numbers.items():
        talker = factory.by_number[number]
        assert talker.started_at is not None, f"far end {scenario} never answered"
        token = number.removeprefix("+" + scenario)
        recorded[scenario] = Recorded(talker.pcm, talker.started_at, sandbox.far_end(token))
    return recorded


@pytest.fixture(scope="module")
def prompts(asterisk_sandbox: Sandbox) -> Iterator[dict[str, Recorded]]:
    with tempfile.TemporaryDirectory() as data_dir:
        yield asyncio.run(_record(asterisk_sandbox, Path(data_dir)))


def test_the_beep_after_the_voicemail_greeting_is_found_and_nothing_else_is(
    prompts: dict[str, Recorded],
) -> None:
    voicemail = prompts[sb.VOICEMAIL]
    [beep] = find_beeps(voicemail.pcm)
    print(f"beep: {beep.hz:.0f} Hz, {beep.duration_ms:.0f} ms, rms {beep.rms}")
    assert abs(beep.hz - 700) <= 14  # Asterisk's beep prompt is 700 Hz
    assert 300 <= beep.duration_ms <= 440
    # It sounds after the greeting (vm-intro), where the far end played it.
    greeting_s = Sandbox().prompt_seconds("vm-intro")
    assert greeting_s - 0.2 <= beep.start_ms / 1000 <= greeting_s + 0.4
    for scenario in (sb.PERSON, sb.HELLO, sb.HOLD):
        assert find_beeps(prompts[scenario].pcm) == [], f"a beep in far end {scenario}"


def test_speech_never_holds_one_pure_note_long_enough_to_be_a_beep(
    prompts: dict[str, Recorded],
) -> None:
    """The margin behind the 150 ms rule: outside the beep, no run of pure-tone frames at
    one frequency reaches even MIN_TONE_MS (60 ms) in any of the far ends' speech."""
    for scenario in (sb.PERSON, sb.HELLO, sb.VOICEMAIL, sb.HOLD):
        detector = BeepDetector()
        for frame in prompts[scenario].frames():
            detector.feed(measure(frame))
        detector.finish()
        tones = [t for t in detector.tones if not (scenario == sb.VOICEMAIL and t.hz > 690)]
        assert tones == [], f"far end {scenario}: {tones}"
    assert BeepRules().min_ms - WHOLE_FRAMES_SLACK_MS > MIN_TONE_MS


def test_the_hold_far_end_is_on_hold_within_2_s_of_its_music_and_nobody_else_is(
    prompts: dict[str, Recorded],
) -> None:
    hold = prompts[sb.HOLD]
    watch, beeps = MusicWatch(), BeepDetector()
    first = None
    for i, frame in enumerate(hold.frames()):
        features = measure(frame)
        beeps.feed(features)
        if watch.feed(features, beeps.tones):
            first = i
            break
    assert first is not None, "never on hold"
    music_began = hold.far.mark("hold")
    print(f"on hold {hold.epoch(first + 1) - music_began:.2f} s after the music began")
    assert 0 < hold.epoch(first + 1) - music_began <= 2.0
    for scenario in (sb.PERSON, sb.HELLO, sb.VOICEMAIL):
        watch = MusicWatch()
        assert not any(watch.feed(measure(f)) for f in prompts[scenario].frames()), scenario


def test_on_hold_announcements_are_not_a_person_and_the_person_is(
    prompts: dict[str, Recorded],
) -> None:
    hold = prompts[sb.HOLD]
    watch = CalleeWatch()
    people: list[int] = []
    for i, frame in enumerate(hold.frames()):
        heard = watch.feed(frame)
        if Heard.MUSIC in heard and not watch.on_hold:
            watch.hold()
        if Heard.PERSON in heard:
            people.append(i)
            replay = watch.resume()
    [back] = people  # once: neither announcement before the person counted
    spoke = hold.far.mark("spoke")
    print(f"person back {hold.epoch(back + 1) - spoke:.2f} s after their words ended")
    assert 0 < hold.epoch(back + 1) - spoke <= 1.0
    assert len(hold.far.marks("announcement")) == 3
    # The replay is their words (≥ 1.4 s of "hello world") and the quiet after them.
    replayed_ms = len(replay) * 20
    assert 1500 <= replayed_ms <= 2400


def test_greeting_length_tells_the_short_hello_from_the_recording_but_not_alone(
    prompts: dict[str, Recorded],
) -> None:
    lengths = {}
    for scenario in (sb.HELLO, sb.PERSON, sb.VOICEMAIL):
        greeting = Greeting()
        for frame in prompts[scenario].frames():
            greeting.feed(measure(frame))
        lengths[scenario] = greeting
    print({s: (g.speech_ms, g.words) for s, g in lengths.items()})
    assert not lengths[sb.HELLO].machine_like
    assert lengths[sb.VOICEMAIL].machine_like
    # The long person (4.4 s) sounds as long as a recording: length is only ever backing
    # for a beep or the model's report (CalleeWatch.machine), never a verdict alone.
    assert lengths[sb.PERSON].machine_like
    for scenario in (sb.HELLO, sb.PERSON):
        watch = CalleeWatch()
        for frame in prompts[scenario].frames():
            watch.feed(frame)
        assert not watch.machine(model_says_voicemail=False)
