"""Everything the call learns by listening to the callee, frame by frame. Pure.

Why one watcher: the bridge already has every caller frame (silence filled in while
Asterisk sends nothing), so the detectors run on exactly what the model would hear, on
audio time, with no clock of their own: the opening (who speaks first), voicemail beeps,
and hold (music or tones, then a person coming back). The watcher only reports what it
heard; the bridge decides what to do (docs/protocols.md, Answering machines, beeps and hold).
"""

from __future__ import annotations

import math
from enum import StrEnum

from audio_processing.beep_detector import BeepDetector, Tone
from audio_processing.frame_features import measure
from audio_processing.g711 import slin_to_ulaw, ulaw_to_slin
from audio_processing.greeting import Greeting
from audio_processing.hold_detector import LOUD_RMS, MusicWatch, PersonRules, PersonWatch

GREET_AFTER_MS = 2000.0  # the callee says nothing this long: the agent speaks first
REPLAY_MS = 1500.0  # speech replayed to the model when a person comes back from hold


class Heard(StrEnum):
    SILENCE = "silence"  # the callee has said nothing for GREET_AFTER_MS
    BEEP = "beep"  # a voicemail beep has just ended
    MUSIC = "music"  # music or tones went on (not on hold yet)
    PERSON = "person"  # on hold: a person spoke and is waiting for an answer


class CalleeWatch:
    """`feed(frame)` → what was heard in it; `hold()` / `resume()` switch the hold watch."""

    def __init__(
        self,
        rate: int = 8000,
        *,
        greet_after_ms: float = GREET_AFTER_MS,
        replay_ms: float = REPLAY_MS,
    ) -> None:
        self.rate = rate
        self.greet_after_ms = greet_after_ms
        self.replay_ms = replay_ms
        self.greeting = Greeting()
        self.beeps = BeepDetector()
        self.beep: Tone | None = None
        self._music = MusicWatch()
        self._person: PersonWatch | None = None
        # Recent audio, exactly as much as a replay takes (frames are most of a call's
        # memory: each second kept is ~16 KiB per call).
        self._recent = RecentAudio(replay_ms + PersonRules().quiet_ms, 1000 / (2 * rate))

    @property
    def on_hold(self) -> bool:
        return self._person is not None

    def feed(self, pcm: bytes) -> list[Heard]:
        frame = measure(pcm, self.rate, quiet_below=LOUD_RMS)  # no detector reads quiet ones
        self._keep(pcm)
        heard: list[Heard] = []
        quiet_before = self.greeting.quiet_ms
        self.greeting.feed(frame)
        if quiet_before < self.greet_after_ms <= self.greeting.quiet_ms:
            heard.append(Heard.SILENCE)
        beep = self.beeps.feed(frame)
        if beep is not None:
            self.beep = beep
            heard.append(Heard.BEEP)
        if self._person is None:
            if self._music.feed(frame, self.beeps.tones):
                heard.append(Heard.MUSIC)
        elif self._person.feed(frame):
            heard.append(Heard.PERSON)
        return heard

    @property
    def beep_pending(self) -> bool:
        """A tone is sounding or has just ended and may yet prove to be a beep."""
        return self.beeps.in_tone or self.beeps.pending

    def machine(self, model_says_voicemail: bool) -> bool:
        """A beep is a machine; the model's word is, after a greeting long enough to be one."""
        return self.beep is not None or (model_says_voicemail and self.greeting.machine_like)

    def hold(self) -> None:
        """The call is on hold from now: listen for a person instead of for music."""
        if self._person is None:
            self._person = PersonWatch()

    def resume(self) -> list[bytes]:
        """Off hold: the frames to replay to the model (the person's last words and the
        quiet after them), oldest first."""
        self._person = None
        self._music = MusicWatch()
        return self._recent.frames()

    def keep_as_ulaw(self) -> None:
        """Keep the recent audio μ-law coded, half the bytes; before the first frame.

        Only for a model that takes μ-law at the call's 8 kHz: the replay then reaches it
        byte for byte as the live frames did (μ-law → slin → μ-law gives every code back;
        checked over all 65536 samples, tests/audio/test_callee_watch.py)."""
        self._recent.ulaw = True

    def _keep(self, pcm: bytes) -> None:
        self._recent.add(pcm)


class RecentAudio:
    """The newest whole frames covering `keep_ms`, in one bytearray ring.

    Why a ring and not a deque of the frames: every 20 ms frame kept as its own bytes
    object costs a pymalloc block (33 bytes of header, 368 for 320 bytes of audio) plus its
    deque slot, and 115 of them per call, freed one by one 2.3 s after they came, scatter
    across the allocator's pools; the ring is one block, written in place (issue 16).
    Frames come back cut at the newest frame's length (a call's frames are all alike;
    should the length change, what is kept is cut anew, the oldest piece perhaps short).
    With `ulaw` (set before the first frame) it holds the frames μ-law coded, one byte a
    sample instead of two, and gives them back as slin.
    """

    def __init__(self, keep_ms: float, ms_per_byte: float) -> None:
        self.keep_ms = keep_ms
        self.ms_per_byte = ms_per_byte
        self._ring = bytearray()  # sized at the first frame, by its length
        self._frame = 0  # the newest frame's length in bytes
        self._end = 0  # where the next byte goes
        self._filled = 0  # bytes of audio held, at most len(self._ring)
        self.ulaw = False

    def add(self, pcm: bytes) -> None:
        if self.ulaw:
            pcm = slin_to_ulaw(pcm)
        size = len(pcm)
        if size != self._frame:
            self._resize(size)
        ring, end = self._ring, self._end
        room = len(ring) - end
        if size <= room:
            ring[end : end + size] = pcm
        else:
            ring[end:] = pcm[:room]
            ring[: size - room] = pcm[room:]
        self._end = (end + size) % len(ring)
        self._filled = min(len(ring), self._filled + size)

    def frames(self) -> list[bytes]:
        """What is kept, oldest first, as frames of the newest frame's length."""
        size = self._frame
        if not self._filled or not size:
            return []
        held = self._held()
        first = len(held) % size
        pieces = [held[:first]] if first else []
        pieces += [held[i : i + size] for i in range(first, len(held), size)]
        return [ulaw_to_slin(p) for p in pieces] if self.ulaw else pieces

    def _held(self) -> bytes:
        ring, end, filled = self._ring, self._end, self._filled
        start = end - filled
        if start >= 0:
            return bytes(ring[start:end])
        return bytes(ring[start:] + ring[:end])

    def _resize(self, size: int) -> None:
        """A frame length not seen before (the first frame): as many whole frames of it as
        cover `keep_ms`, keeping the newest audio held so far."""
        kept = self._held() if self._filled else b""
        frame_ms = size * self.ms_per_byte * (2 if self.ulaw else 1)
        count = max(1, math.ceil(round(self.keep_ms / frame_ms, 6))) if size else 0
        self._ring = bytearray(count * size)
        self._frame, self._end, self._filled = size, 0, 0
        if kept and self._ring:
            kept = kept[-len(self._ring) :]
            self._ring[: len(kept)] = kept
            self._end, self._filled = len(kept) % len(self._ring), len(kept)
