"""Audio between a call and the Realtime model: format conversion and the caller's silence.

Why apart from the bridge: both are about samples, not events. The model's session takes
μ-law 8 kHz or PCM 24 kHz while the call carries slin at its own rate; and Asterisk sends
no frames at all while the callee is silent, although the model's VAD runs on audio time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

from audio_processing.call_audio import CallAudio
from audio_processing.g711 import Resampler, slin_to_ulaw, ulaw_to_slin

FRAME_SECONDS = 0.020


class ModelAudio:
    """Caller slin at the call's rate ⇄ the session's format (μ-law 8 kHz or PCM 24 kHz)."""

    def __init__(self, fmt: dict[str, Any], call_rate: int) -> None:
        self.ulaw = fmt.get("type") == "audio/pcmu"
        model_rate = 8000 if self.ulaw else 24000
        self.bytes_per_ms = 8 if self.ulaw else 48
        self._up = Resampler(call_rate, model_rate)
        self._down = Resampler(model_rate, call_rate)

    def to_model(self, pcm: bytes) -> bytes:
        pcm = self._up.convert(pcm)
        return slin_to_ulaw(pcm) if self.ulaw else pcm

    def from_model(self, data: bytes) -> bytes:
        if not self.ulaw and len(data) % 2:
            data = data[:-1]  # a delta never splits a sample in practice; be safe
        return self._down.convert(ulaw_to_slin(data) if self.ulaw else data)

    def reset_output(self) -> None:
        self._down.reset()


async def with_silence(audio: CallAudio, fill_after: float | None) -> AsyncGenerator[bytes, None]:
    """The caller's frames as they arrive, with silence filled in while none arrive.

    Why: without the filled silence a callee who stops talking never produces
    `speech_stopped`, and the agent never answers (seen on the sandbox after an IVR
    prompt). Filling starts after `fill_after` seconds without a frame and then keeps pace
    with the clock, never ahead of it. Ends when the call's audio ends. `None`: no filling.
    A wait that ran out while the event loop was busy elsewhere is no silence if frames are
    waiting by the time it is handled: the callee detectors would hear a pause in the
    middle of hold music that never was.
    """
    if fill_after is None:
        async for heard_frame in audio.inbound():
            yield heard_frame
        return
    loop = asyncio.get_running_loop()
    silence = bytes(audio.metadata.sample_rate // 25)  # one 20 ms slin frame
    heard, filled = loop.time(), 0
    while True:
        due = heard + max(fill_after, (filled + 1) * FRAME_SECONDS)
        try:
            frame = await audio.next_inbound(max(0.0, due - loop.time()))
        except TimeoutError:
            if audio.inbound_waiting:
                continue  # frames came while the loop was busy: late audio, not silence
            owed = int((loop.time() - heard) / FRAME_SECONDS) - filled
            filled += owed
            for _ in range(owed):
                yield silence
            continue
        if frame is None:
            return
        heard, filled = loop.time(), 0
        yield frame
