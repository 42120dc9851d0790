"""Frame features: loudness, dominant frequency and tone purity, on synthetic frames."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from audio_processing.frame_features import measure
from tests.audio.signals import chord, noise, silence, tone

FRAME_MS = 20


@settings(max_examples=200, deadline=None)
@given(hz=st.floats(300, 3000), amplitude=st.floats(500, 32000), phase=st.floats(0, 6.28))
def test_a_pure_tone_is_its_frequency_and_pure(hz: float, amplitude: float, phase: float) -> None:
    features = measure(tone(FRAME_MS, hz, amplitude, phase))
    assert features.ms == FRAME_MS
    assert abs(features.hz - hz) <= 0.01 * hz
    assert features.purity >= 0.98
    assert abs(features.rms - amplitude / 2**0.5) <= 0.05 * amplitude


@settings(max_examples=100, deadline=None)
@given(low=st.floats(300, 1500), ratio=st.floats(1.12, 1.6))
def test_two_notes_at_once_are_not_pure(low: float, ratio: float) -> None:
    assert measure(chord(FRAME_MS, low, low * ratio)).purity <= 0.6


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_noise_is_not_pure(seed: int) -> None:
    assert measure(noise(FRAME_MS, seed=seed)).purity <= 0.3


def test_silence_and_fragments_measure_as_nothing() -> None:
    assert measure(silence(FRAME_MS)) == measure(bytes(320))
    quiet = measure(bytes(320))
    assert (quiet.rms, quiet.hz, quiet.purity) == (0, 0.0, 0.0)
    assert measure(b"").ms == 0
    odd = measure(tone(FRAME_MS, 1000) + b"\x01")  # a stray byte is ignored
    assert abs(odd.hz - 1000) <= 10


def test_frames_of_any_packetisation_are_measured() -> None:
    """A 30 ms ptime gives 480-byte frames (docs/protocols.md, What Asterisk sends)."""
    features = measure(tone(30, 700))
    assert features.ms == 30
    assert abs(features.hz - 700) <= 7
    assert features.purity >= 0.98
