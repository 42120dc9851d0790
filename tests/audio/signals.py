"""Synthetic callee audio for the detector tests: tones, chords, voice-like glides, noise,
silence, as 16-bit little-endian slin at 8 kHz. Deterministic (seeded noise)."""

from __future__ import annotations

import math
import random
import struct

RATE = 8000
FRAME = 320  # bytes: 20 ms


def _pack(samples: list[float]) -> bytes:
    clipped = (max(-32768, min(32767, int(s))) for s in samples)
    return struct.pack(f"<{len(samples)}h", *clipped)


def silence(ms: float) -> bytes:
    return bytes(int(RATE * ms / 1000) * 2)


def tone(ms: float, hz: float, amplitude: float = 6000, phase: float = 0.0) -> bytes:
    n = int(RATE * ms / 1000)
    step = 2 * math.pi * hz / RATE
    return _pack([amplitude * math.sin(phase + step * i) for i in range(n)])


def chord(ms: float, *hz: float, amplitude: float = 6000) -> bytes:
    n = int(RATE * ms / 1000)
    each = amplitude / len(hz)
    return _pack([sum(each * math.sin(2 * math.pi * f * i / RATE) for f in hz) for i in range(n)])


def music(ms: float, seed: int = 0, base: float = 392.0) -> bytes:
    """Two-note chords changing every 300-600 ms, like the sandbox's hold far end."""
    out, step = b"", 0
    while len(out) < int(ms * 16):
        low = base * (1 + 0.06 * ((step * 7 + seed) % 5))
        out += chord(300 * (1 + (step + seed) % 2), low, low * 1.26)
        step += 1
    return out[: int(ms * 16)]


def glide(ms: float, low: float = 200, high: float = 700, amplitude: float = 6000) -> bytes:
    """A pitch that never rests (up and down every 200 ms): loud like a voice."""
    n = int(RATE * ms / 1000)
    phase, out = 0.0, []
    for i in range(n):
        t = (i % (RATE // 5)) / (RATE // 5)
        hz = low + (high - low) * (2 * t if t < 0.5 else 2 - 2 * t)
        phase += 2 * math.pi * hz / RATE
        out.append(amplitude * math.sin(phase))
    return _pack(out)


def syllables(ms: float, amplitude: float = 6000, seed: int = 1) -> bytes:
    """Speech-like: gliding bursts of 120-300 ms, each at its own loudness (±6 dB around
    `amplitude`), with 40-200 ms dips between them."""
    rng = random.Random(seed)
    out = b""
    while len(out) < int(RATE * ms / 1000) * 2:
        loudness = amplitude * 10 ** (rng.uniform(-6, 6) / 20)
        out += glide(rng.uniform(120, 300), rng.uniform(120, 250), rng.uniform(400, 900), loudness)
        out += noise(rng.uniform(40, 200), amplitude / 40, seed=rng.randrange(1 << 30))
    return out[: int(RATE * ms / 1000) * 2]


def noise(ms: float, amplitude: float = 3000, seed: int = 0) -> bytes:
    rng = random.Random(seed)
    return _pack([rng.gauss(0, amplitude) for _ in range(int(RATE * ms / 1000))])


def frames(pcm: bytes) -> list[bytes]:
    return [pcm[i : i + FRAME] for i in range(0, len(pcm) - FRAME + 1, FRAME)]
