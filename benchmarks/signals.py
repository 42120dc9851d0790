"""Audio the load generator plays: a speech-like on/off pattern of 20 ms slin8 frames. No I/O."""

from __future__ import annotations

import math
import struct

from audio_processing.audio_socket_protocol import encode_audio

FRAME_BYTES = 320  # 20 ms of slin8
CYCLE_FRAMES = 200  # 4 s: the caller talks, the agent replies, a pause
TALK_FRAMES = 50  # 1 s of "speech" at the start of every cycle


def tone(ms: int, amplitude: int = 6000, freq: float = 300.0, rate: int = 8000) -> bytes:
    """A sine wave, 16-bit little-endian slin."""
    n = rate * ms // 1000
    step = 2 * math.pi * freq / rate
    return struct.pack(f"<{n}h", *(int(amplitude * math.sin(step * i)) for i in range(n)))


def speech_frames() -> list[bytes]:
    """A few different loud wire frames (varying pitch and level), pre-encoded once."""
    return [encode_audio(tone(20, amplitude=3000 + 700 * i, freq=180.0 + 40 * i)) for i in range(8)]


def quiet_frame() -> bytes:
    """Low background noise, far below the fake model's VAD threshold."""
    pcm = struct.pack("<160h", *((i * 7919) % 61 - 30 for i in range(160)))
    return encode_audio(pcm)


class Talker:
    """Which pre-encoded frame call `offset` sends at tick `n` (cycles are phase-shifted)."""

    def __init__(self) -> None:
        self.speech = speech_frames()
        self.quiet = quiet_frame()

    def frame(self, n: int, offset: int) -> bytes:
        pos = (n + offset) % CYCLE_FRAMES
        if pos < TALK_FRAMES:
            return self.speech[pos % len(self.speech)]
        return self.quiet
