"""The callee's opening words: who spoke first, how long, when they paused."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from audio_processing.frame_features import measure
from audio_processing.greeting import Greeting
from tests.audio.signals import frames, silence, syllables


def heard(pcm: bytes) -> Greeting:
    greeting = Greeting()
    for frame in frames(pcm):
        greeting.feed(measure(frame))
    return greeting


@settings(max_examples=40, deadline=None)
@given(lead_ms=st.floats(0, 1500), words_ms=st.floats(300, 1800), seed=st.integers(0, 999))
def test_a_short_hello_is_a_persons_opening(lead_ms: float, words_ms: float, seed: int) -> None:
    greeting = heard(silence(lead_ms) + syllables(words_ms, seed=seed) + silence(1500))
    assert greeting.spoke
    assert greeting.first_speech_ms is not None
    assert abs(greeting.first_speech_ms - lead_ms) <= 40
    assert greeting.over
    assert not greeting.machine_like
    assert greeting.speech_ms <= words_ms + 40  # whole frames


@settings(max_examples=40, deadline=None)
@given(words_ms=st.floats(3000, 8000), seed=st.integers(0, 999))
def test_a_long_recording_sounds_like_one(words_ms: float, seed: int) -> None:
    greeting = heard(syllables(words_ms, seed=seed) + silence(1000))
    assert greeting.machine_like


def test_only_the_opening_utterance_counts_and_quiet_is_timed() -> None:
    greeting = heard(syllables(600) + silence(800) + syllables(3000, seed=3))
    assert not greeting.machine_like  # what came after the first pause is the conversation
    quiet = heard(silence(2500))
    assert (quiet.spoke, quiet.quiet_ms) == (False, 2500)
