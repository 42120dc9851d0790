"""Hold heard in synthetic audio: music and tones put the call on hold, a person ends it,
recorded announcements do not."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from audio_processing.beep_detector import BeepDetector
from audio_processing.frame_features import measure
from audio_processing.hold_detector import MusicWatch, PersonWatch
from tests.audio.signals import frames, glide, music, noise, silence, syllables, tone

HYPOTHESIS = settings(max_examples=40, deadline=None)


def on_hold_after_ms(pcm: bytes) -> float | None:
    """When a MusicWatch (with the beep detector's tones) first says hold, or None."""
    watch, beeps = MusicWatch(), BeepDetector()
    for i, frame in enumerate(frames(pcm)):
        features = measure(frame)
        beeps.feed(features)
        if watch.feed(features, beeps.tones):
            return (i + 1) * 20
    return None


@HYPOTHESIS
@given(seed=st.integers(0, 100), base=st.floats(200, 800), lead_ms=st.floats(0, 3000))
def test_chord_music_puts_the_call_on_hold_within_2_s(
    seed: int, base: float, lead_ms: float
) -> None:
    pcm = syllables(lead_ms, seed=seed) + music(6000, seed, base)
    began = on_hold_after_ms(pcm)
    assert began is not None
    assert lead_ms < began <= lead_ms + 2000


@HYPOTHESIS
@given(hz=st.floats(300, 1000), on_ms=st.floats(200, 500), off_ms=st.floats(100, 380))
def test_hold_tones_put_the_call_on_hold(hz: float, on_ms: float, off_ms: float) -> None:
    pcm = (tone(on_ms, hz) + silence(off_ms)) * 8
    began = on_hold_after_ms(pcm)
    assert began is not None
    assert began <= 3 * (on_ms + off_ms) + 100


@HYPOTHESIS
@given(seed=st.integers(0, 10_000), ms=st.floats(1000, 8000))
def test_speech_silence_and_noise_never_put_the_call_on_hold(seed: int, ms: float) -> None:
    assert on_hold_after_ms(syllables(ms, seed=seed)) is None
    assert on_hold_after_ms(glide(ms)) is None
    assert on_hold_after_ms(silence(ms)) is None
    assert on_hold_after_ms(noise(ms, seed=seed)) is None


def test_a_voicemail_beep_after_a_greeting_is_not_hold() -> None:
    assert on_hold_after_ms(syllables(4000) + tone(1500, 1000) + silence(2000)) is None


def people(pcm: bytes, watch: PersonWatch | None = None) -> list[float]:
    """When (ms into the hold) a PersonWatch says a person is back."""
    watch = watch or PersonWatch()
    return [(i + 1) * 20 for i, f in enumerate(frames(pcm)) if watch.feed(measure(f))]


@HYPOTHESIS
@given(seed=st.integers(0, 1000), words_ms=st.floats(400, 3000))
def test_a_person_who_speaks_then_waits_is_back_800_ms_after_their_words(
    seed: int, words_ms: float
) -> None:
    pcm = music(4000, seed) + syllables(words_ms, seed=seed) + silence(2000)
    [back] = people(pcm)
    ended = 4000 + words_ms  # or a little before: speech ends in a dip
    assert ended + 500 <= back <= ended + 1000


@HYPOTHESIS
@given(seed=st.integers(0, 1000), words_ms=st.floats(400, 3000))
def test_an_announcement_that_music_follows_is_not_a_person(seed: int, words_ms: float) -> None:
    announcement = syllables(words_ms, seed=seed)
    pcm = (music(3000, seed) + announcement) * 3 + music(3000, seed)
    assert people(pcm) == []


@HYPOTHESIS
@given(seed=st.integers(0, 1000), words_ms=st.integers(40, 150).map(lambda n: n * 20))
def test_a_repeated_announcement_followed_by_quiet_is_not_a_person(
    seed: int, words_ms: int
) -> None:
    """Heard once before music, the same recording is known when quiet follows it later
    (replayed, as a PBX replays a file, on the same 20 ms framing)."""
    announcement = syllables(words_ms, seed=seed)
    watch = PersonWatch()
    first = music(3000, seed) + announcement + music(3000, seed)
    assert people(first, watch) == []
    assert people(announcement + silence(2000), watch) == []
    assert people(syllables(1200, seed=seed + 1) + silence(2000), watch) != []  # someone new


def test_what_was_being_said_as_the_hold_began_is_not_a_person() -> None:
    """The "please hold" that put the call on hold ends in quiet too: it does not count."""
    assert people(syllables(800) + silence(3000)) == []
    assert people(syllables(800) + silence(1000) + syllables(900, seed=2) + silence(1000)) != []


def test_clicks_are_not_a_person() -> None:
    assert people(music(3000) + glide(100) + silence(2000)) == []
