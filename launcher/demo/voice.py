"""Speech-like audio for the demo's voices: no words, only the shape of speech. Pure.

Why not silence or a tone: the product listens to the line the way it listens to a real
one. The model's turn detection wants loud bursts with pauses, and the callee watch takes
a steady tone for a voicemail beep and steady notes for hold music
(docs/protocols.md, Answering machines, beeps and hold). So a voice here is gliding
syllables of varying loudness with short dips, never one note for long; a beep is one
steady tone. Samples are signed 16-bit little-endian at 8 kHz (AudioSocket's slin).
"""

from __future__ import annotations

import math
import random
import struct

from audio_processing.frame_features import measure

RATE = 8000
FRAME_BYTES = 320  # 20 ms of slin at 8 kHz
MS_PER_CHAR = 55  # a brisk talker: about 18 characters a second
MIN_SPEECH_MS = 600
MAX_SPEECH_MS = 7000


def speech_ms(text: str) -> int:
    """How long saying `text` takes in the demo."""
    return max(MIN_SPEECH_MS, min(MAX_SPEECH_MS, len(text) * MS_PER_CHAR))


def _pack(samples: list[float]) -> bytes:
    clipped = [max(-32768, min(32767, int(s))) for s in samples]
    return struct.pack(f"<{len(clipped)}h", *clipped)


def _glide(ms: float, low: float, high: float, amplitude: float, phase: float) -> list[float]:
    """A pitch moving from low to high and back: loud like a vowel, never a steady note."""
    n = int(RATE * ms / 1000)
    out: list[float] = []
    for i in range(n):
        t = i / max(1, n - 1)
        hz = low + (high - low) * (2 * t if t < 0.5 else 2 - 2 * t)
        phase += 2 * math.pi * hz / RATE
        fade = min(1.0, i / 80, (n - i) / 80)  # 10 ms ramps: no clicks between syllables
        out.append(amplitude * fade * math.sin(phase))
    return out


def speech(text: str, *, seed: int = 0, amplitude: float = 6000.0) -> bytes:
    """Speech-shaped slin for saying `text`: syllables of 120-300 ms, dips of 40-160 ms
    (shorter than any turn detector's pause, so one line stays one turn)."""
    rng = random.Random(f"{seed}:{text}")
    total = int(RATE * speech_ms(text) / 1000)
    samples: list[float] = []
    while len(samples) < total:
        loudness = amplitude * 10 ** (rng.uniform(-5, 5) / 20)
        low, high = rng.uniform(120, 250), rng.uniform(400, 900)
        samples += _glide(rng.uniform(120, 300), low, high, loudness, rng.uniform(0, math.pi))
        dip = int(RATE * rng.uniform(40, 160) / 1000)
        samples += [rng.gauss(0, amplitude / 60) for _ in range(dip)]
    return _pack(samples[:total])


def beep(ms: int = 500, hz: float = 1000.0, amplitude: float = 8000.0) -> bytes:
    """An answering machine's beep: one steady tone."""
    n = int(RATE * ms / 1000)
    return _pack([amplitude * math.sin(2 * math.pi * hz * i / RATE) for i in range(n)])


def silence(ms: int) -> bytes:
    return bytes(int(RATE * ms / 1000) * 2)


def frames(pcm: bytes) -> list[bytes]:
    """20 ms frames; the last one padded with silence."""
    padded = pcm + bytes(-len(pcm) % FRAME_BYTES)
    return [padded[i : i + FRAME_BYTES] for i in range(0, len(padded), FRAME_BYTES)]


def rms(frame: bytes) -> float:
    """Loudness of one slin frame (root mean square of its samples)."""
    return float(measure(frame, quiet_below=1 << 20).rms)
