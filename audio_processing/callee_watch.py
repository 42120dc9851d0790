"""Everything the call learns by listening to the callee, frame by frame. Pure.

Why one watcher: the bridge already has every caller frame (silence filled in while
Asterisk sends nothing), so the detectors run on exactly what the model would hear, on
audio time, with no clock of their own: the opening (who speaks first), voicemail beeps,
and hold (music or tones, then a person coming back). The watcher only reports what it
heard; the bridge decides what to do (docs/protocols.md, Answering machines, beeps and hold).
"""

from __future__ import annotations

from collections import deque
from enum import StrEnum

from audio_processing.beep_detector import BeepDetector, Tone
from audio_processing.frame_features import measure
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
        # Recent audio, exactly as much as a replay takes, frames alone (frames are most of
        # a call's memory: each second kept is ~20 KiB per call).
        self._keep_ms = replay_ms + PersonRules().quiet_ms
        self._ms_per_byte = 1000 / (2 * rate)
        self._recent: deque[bytes] = deque()
        self._recent_ms = 0.0

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
        wanted = self._keep_ms
        frames: list[bytes] = []
        took = 0.0
        for pcm in reversed(self._recent):
            if took >= wanted:
                break
            frames.append(pcm)
            took += len(pcm) * self._ms_per_byte
        return frames[::-1]

    def _keep(self, pcm: bytes) -> None:
        per_byte = self._ms_per_byte
        self._recent.append(pcm)
        self._recent_ms += len(pcm) * per_byte
        while self._recent_ms - len(self._recent[0]) * per_byte >= self._keep_ms:
            self._recent_ms -= len(self._recent.popleft()) * per_byte
