"""The callee watch: what it reports, frame by frame, and its machine verdict."""

from __future__ import annotations

from audio_processing.callee_watch import CalleeWatch, Heard
from tests.audio.signals import chord, frames, silence, syllables, tone


def reports(watch: CalleeWatch, pcm: bytes) -> list[tuple[int, Heard]]:
    return [((i + 1) * 20, h) for i, f in enumerate(frames(pcm)) for h in watch.feed(f)]


def test_a_silent_callee_is_reported_each_time_2_s_of_quiet_have_passed() -> None:
    watch = CalleeWatch()
    heard = reports(watch, silence(2500) + syllables(500) + silence(2500))
    assert heard == [(2000, Heard.SILENCE), (3000 + 2000, Heard.SILENCE)]


def test_a_beep_after_a_greeting_is_a_machine_on_its_own() -> None:
    watch = CalleeWatch()
    heard = reports(watch, syllables(4000) + silence(100) + tone(400, 700) + silence(800))
    assert [h for _, h in heard] == [Heard.BEEP]
    assert watch.beep is not None
    assert watch.machine(model_says_voicemail=False)


def test_the_models_word_needs_a_greeting_long_enough_to_be_a_recording() -> None:
    person, recording = CalleeWatch(), CalleeWatch()
    reports(person, syllables(700) + silence(1000))
    reports(recording, syllables(4000) + silence(1000))
    assert not person.machine(model_says_voicemail=True)  # a person is never hung up on
    assert recording.machine(model_says_voicemail=True)
    assert not recording.machine(model_says_voicemail=False)


def test_music_is_reported_until_the_call_is_on_hold_then_a_person_coming_back() -> None:
    watch = CalleeWatch()
    music = b"".join(chord(300 + 300 * (i % 2), 392 + 20 * i, 494 + 20 * i) for i in range(12))
    heard = reports(watch, syllables(1000) + music)
    assert Heard.MUSIC in [h for _, h in heard]
    watch.hold()
    assert watch.on_hold
    back = reports(watch, music + syllables(1400, seed=4) + silence(1000))
    assert [h for _, h in back] == [Heard.PERSON]
    replay = watch.resume()
    assert not watch.on_hold
    # The last 1.5 s of what they said and the 800 ms of quiet after it, oldest first.
    assert len(replay) * 20 == 1500 + 800
    assert replay[-1] == bytes(320)
