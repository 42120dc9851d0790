"""What one frame of the callee's audio sounds like: how loud, at what dominant frequency,
and how much of it is a single pure tone. Pure: bytes in, numbers out; no numpy.

Why these three: they are what tells a voicemail beep, hold music and a person apart
(docs/protocols.md, Answering machines, beeps and hold), and each costs a few C calls of
audioop per frame, so every call can afford them 50 times a second.

- `hz`: the frequency of the best two-tap predictor (x[n] ≈ a·x[n-1] - x[n-2], a = 2·cos ω),
  fitted by least squares. For a pure tone it is the tone; for speech it wanders.
- `purity`: the share of the frame's energy carried by one sinusoid at `hz`. A beep is
  ≥ 0.99 on the sandbox's recorded prompt; a two-note chord is ≤ 0.1 even though its `hz`
  is steady; vowels reach 0.9 only for a few frames while their `hz` drifts.
"""

from __future__ import annotations

import functools
import math
import struct
from dataclasses import dataclass

from audio_processing.g711 import audioop, native

SAMPLE_WIDTH = 2
_REFERENCE_AMPLITUDE = 16_000
# References are made every 5 Hz: a tone 2.5 Hz off drifts at most 0.3 rad over 20 ms,
# which costs it about 1% of purity (a beep still measures ≥ 0.98).
REFERENCE_STEP_HZ = 5


@dataclass(frozen=True, slots=True)
class FrameFeatures:
    ms: float  # the frame's duration
    rms: int  # 16-bit sample units; 0 for digital silence
    hz: float  # dominant frequency; 0.0 when there is nothing to measure
    purity: float  # 0..1: share of the energy in one sinusoid at `hz`


def measure(pcm: bytes, rate: int = 8000, *, quiet_below: int = 1) -> FrameFeatures:
    """The features of one frame of little-endian 16-bit mono PCM at `rate`; a frame
    quieter than `quiet_below` (RMS) gets no frequency or purity (they cost the most, and
    a caller's frames are mostly quiet)."""
    samples = len(pcm) // SAMPLE_WIDTH
    ms = samples * 1000 / rate
    frame = native(pcm[: samples * SAMPLE_WIDTH])
    rms = audioop.rms(frame, SAMPLE_WIDTH) if samples else 0
    if rms < max(1, quiet_below) or samples < 8:
        return FrameFeatures(ms, rms, 0.0, 0.0)
    # Halved: x[n] + x[n-2] of a loud low tone would overflow 16 bits (audioop saturates).
    half = audioop.mul(frame, SAMPLE_WIDTH, 0.5)
    hz = dominant_hz(half, rate)
    return FrameFeatures(ms, rms, hz, tone_purity(half, hz, rate))


def dominant_hz(frame: bytes, rate: int) -> float:
    """The two-tap predictor's frequency of a native-order frame (0.0 if undefined)."""
    now, before, earlier = frame[4:], frame[2:-2], frame[:-4]
    if audioop.rms(before, SAMPLE_WIDTH) == 0:
        return 0.0
    outer = audioop.add(now, earlier, SAMPLE_WIDTH)
    a = audioop.findfactor(outer, before)  # least squares: outer ≈ a · before
    return math.acos(max(-1.0, min(1.0, a / 2))) * rate / (2 * math.pi)


def tone_purity(frame: bytes, hz: float, rate: int) -> float:
    """Share of the frame's energy explained by one sinusoid at `hz` (any phase)."""
    energy = audioop.rms(frame, SAMPLE_WIDTH)
    if energy == 0 or hz <= 0:
        return 0.0
    step = round(hz / REFERENCE_STEP_HZ) * REFERENCE_STEP_HZ
    cosine, sine = _references(step, len(frame) // SAMPLE_WIDTH, rate)
    rest = _minus_projection(frame, cosine)
    rest = _minus_projection(rest, sine)
    return max(0.0, 1.0 - (audioop.rms(rest, SAMPLE_WIDTH) / energy) ** 2)


def _minus_projection(frame: bytes, reference: bytes) -> bytes:
    if audioop.rms(reference, SAMPLE_WIDTH) == 0:  # a sine at 0 Hz or at Nyquist
        return frame
    factor = audioop.findfactor(frame, reference)
    return audioop.add(frame, audioop.mul(reference, SAMPLE_WIDTH, -factor), SAMPLE_WIDTH)


@functools.lru_cache(maxsize=4096)
def _references(hz: int, samples: int, rate: int) -> tuple[bytes, bytes]:
    """A cosine and a sine at `hz`, native order. Cached (computing one costs more than
    the rest of a frame): one pair per REFERENCE_STEP_HZ step and frame size."""
    step = 2 * math.pi * hz / rate
    cosine = [round(_REFERENCE_AMPLITUDE * math.cos(step * i)) for i in range(samples)]
    sine = [round(_REFERENCE_AMPLITUDE * math.sin(step * i)) for i in range(samples)]
    return struct.pack(f"={samples}h", *cosine), struct.pack(f"={samples}h", *sine)
