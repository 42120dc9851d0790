"""The callee watch: what it reports, frame by frame, and its machine verdict."""

from __future__ import annotations

import random
import struct

from audio_processing.callee_watch import CalleeWatch, Heard, RecentAudio
from audio_processing.g711 import slin_to_ulaw, ulaw_to_slin
from tests.audio.signals import chord, frames, silence, syllables, tone


def reports(watch: CalleeWatch, pcm: bytes) -> list[tuple[int, Heard]]:
    return [((i + 1) * 20, h) for i, f in enumerate(frames(pcm)) for h in watch.feed(f)]


def on_hold(watch: CalleeWatch) -> bool:
    """Read through a call, so the type checker does not keep its narrowing across resume()."""
    return watch.on_hold


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
    assert on_hold(watch)
    back = reports(watch, music + syllables(1400, seed=4) + silence(1000))
    assert [h for _, h in back] == [Heard.PERSON]
    replay = watch.resume()
    assert not on_hold(watch)
    # The last 1.5 s of what they said and the 800 ms of quiet after it, oldest first.
    assert len(replay) * 20 == 1500 + 800
    assert replay[-1] == bytes(320)


def _numbered_frames(count: int, size: int = 320) -> list[bytes]:
    """Frames that tell each other apart (noise, so a μ-law round trip is tested on it)."""
    rng = random.Random(7)
    return [bytes(rng.randrange(256) for _ in range(size)) for _ in range(count)]


def test_the_replay_is_the_newest_frames_covering_2300_ms_oldest_first() -> None:
    watch = CalleeWatch()
    sent = _numbered_frames(300)
    for f in sent:
        watch.feed(f)
    watch.hold()
    assert watch.resume() == sent[-115:]  # 1500 ms + 800 ms of 20 ms frames


def test_a_short_call_replays_all_it_has_and_a_new_frame_length_is_cut_anew() -> None:
    recent = RecentAudio(100.0, 1000 / 16000)  # 5 frames of 20 ms at 8 kHz
    assert recent.frames() == []
    first = _numbered_frames(3)
    for f in first:
        recent.add(f)
    assert recent.frames() == first
    longer = _numbered_frames(1, 640)[0]  # 40 ms: 3 of them cover 100 ms
    recent.add(longer)
    held = b"".join(first) + longer
    assert recent.frames() == [held[:320], held[320:960], held[960:]]


def test_kept_as_ulaw_the_replay_reaches_a_ulaw_model_byte_for_byte() -> None:
    every_sample = struct.pack("<65536h", *range(-32768, 32768))
    assert slin_to_ulaw(ulaw_to_slin(slin_to_ulaw(every_sample))) == slin_to_ulaw(every_sample)
    watch = CalleeWatch()
    watch.keep_as_ulaw()
    sent = _numbered_frames(200)
    for f in sent:
        watch.feed(f)
    replay = watch.resume()
    assert [len(f) for f in replay] == [320] * 115
    assert [slin_to_ulaw(f) for f in replay] == [slin_to_ulaw(f) for f in sent[-115:]]
