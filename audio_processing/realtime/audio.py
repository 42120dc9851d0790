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
from audio_processing.playout import FRAME_SECONDS


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


class CallerFrames:
    """The caller's frames as they arrive, in runs, with silence filled in while none arrive.

    Why silence: without it a callee who stops talking never produces `speech_stopped`,
    and the agent never answers (seen on the sandbox after an IVR prompt). Filling starts
    after `fill_after` seconds without a frame (at least the time the server may hold
    frames to read them in one batch, `CallAudio.inbound_hold`) and then keeps pace with
    the clock, never ahead of it. `None`: no filling. A wait that ran out while the event
    loop was busy elsewhere is no silence if frames are waiting by the time it is handled:
    the callee detectors would hear a pause in the middle of hold music that never was.
    Why runs: the bridge sends the model a few frames per message, so it asks for that
    many and is woken once per message instead of once per frame (docs/architecture.md,
    Caller audio to the model).
    """

    def __init__(self, audio: CallAudio, fill_after: float | None) -> None:
        self.audio = audio
        self.fill_after = fill_after
        self._silence = bytes(audio.metadata.sample_rate // 25)  # one 20 ms slin frame
        self._heard: float | None = None  # the loop's clock at the newest frame heard
        self._filled = 0  # silent frames made up since then

    async def next(self, want: int = 1) -> list[bytes] | None:
        """At least one frame, and every frame waiting once `want` are (or filled silence
        once the callee has been quiet); None when the call's audio ended."""
        fill_after = self.fill_after
        if fill_after is None:
            return await self.audio.next_inbound_run(want, None)
        loop = asyncio.get_running_loop()
        if self._heard is None:
            self._heard = loop.time()
        # Frames the server may still be gathering into one read are not silence yet (two
        # frames more: the loop may run the hand-over a little late).
        fill_after = max(fill_after, self.audio.inbound_hold + 2 * FRAME_SECONDS)
        while True:
            due = self._heard + max(fill_after, (self._filled + want) * FRAME_SECONDS)
            run = await self.audio.next_inbound_run(want, due)
            if run is None:
                return None
            if run:  # heard (perhaps late, while the loop was busy): no silence
                self._heard, self._filled = self.audio.last_inbound_at, 0
                return run
            elapsed = (loop.time() - self._heard) / FRAME_SECONDS
            owed = int(elapsed + 1e-3) - self._filled  # 1e-3: a float's 4.999 at the due time
            if owed > 0:
                self._filled += owed
                return [self._silence] * owed


async def with_silence(audio: CallAudio, fill_after: float | None) -> AsyncGenerator[bytes, None]:
    """CallerFrames one frame at a time; ends when the call's audio ends."""
    frames = CallerFrames(audio, fill_after)
    while (run := await frames.next()) is not None:
        for frame in run:
            yield frame
