"""Voicemail beeps in the callee's audio: one steady pure tone, alone. Pure and streaming.

Why our own detector: AMD() has no beep logic and TONE_DETECT watches one frequency,
while real beeps have no standard frequency or length (docs/protocols.md, Beep detection).
A beep here is a run of frames that each carry ≥ 90% of their energy in one sinusoid
between 300 and 3000 Hz, at one frequency (±2%), lasting 150 ms to 2 s, with no other
tone within 500 ms before or after it: hold tones and ringback repeat, a beep does not.
It must be loud (RMS ≥ 300) and no more than 10 dB under the callee's speech so far; the
sandbox's beep is 1.1 dB above its greeting's median (3689 vs 3239).

Measured on the sandbox's real prompts as a call delivers them (tests/audio/
test_beep_detector_prompts.py): the 700 Hz beep after vm-intro is found (frames at purity
0.99-1.00, 699-702 Hz); speech never holds purity ≥ 0.9 for more than 5 frames and drifts
up to 20% meanwhile; the hold far end's two-note chords stay under purity 0.1.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass

from audio_processing.frame_features import FrameFeatures, measure

MIN_TONE_MS = 60  # shorter tonal runs are not tones (a vowel can be pure for 3 frames)
WHOLE_FRAMES_SLACK_MS = 30  # see BeepDetector._beep_shaped


@dataclass(frozen=True, slots=True)
class Tone:
    """A run of pure-tone frames at one frequency (times in ms from the stream's start)."""

    start_ms: float
    end_ms: float
    hz: float
    rms: int

    @property
    def duration_ms(self) -> float:
        return self.end_ms - self.start_ms


@dataclass(frozen=True, slots=True)
class BeepRules:
    min_ms: float = 150.0
    max_ms: float = 2000.0
    isolation_ms: float = 500.0  # no other tone this close before or after
    min_rms: int = 300
    min_purity: float = 0.9
    min_hz: float = 300.0
    max_hz: float = 3000.0
    hz_tolerance: float = 0.02
    below_speech_db: float = 10.0  # how much quieter than the callee's speech it may be


class _Run:
    def __init__(self, start_ms: float, frame: FrameFeatures) -> None:
        self.start_ms, self.end_ms = start_ms, start_ms + frame.ms
        self.reference_hz = frame.hz
        self.hz: list[float] = [frame.hz]
        self.rms: list[int] = [frame.rms]

    def matches(self, frame: FrameFeatures, tolerance: float) -> bool:
        return abs(frame.hz - self.reference_hz) <= tolerance * self.reference_hz

    def add(self, frame: FrameFeatures) -> None:
        self.end_ms += frame.ms
        self.hz.append(frame.hz)
        self.rms.append(frame.rms)

    def tone(self) -> Tone:
        hz = statistics.fmean(self.hz)
        return Tone(self.start_ms, self.end_ms, hz, int(statistics.median(self.rms)))


class BeepDetector:
    """Feed frames in order; `feed` returns a beep once it is over and stood alone."""

    def __init__(self, rules: BeepRules | None = None) -> None:
        self.rules = rules or BeepRules()
        self.now_ms = 0.0
        self.tones: deque[Tone] = deque(maxlen=64)  # recent tones, beeps or not (cadence)
        self._run: _Run | None = None
        self._pending: Tone | None = None  # a beep waiting to see nothing follows it
        self._last_tone_end: float | None = None
        self._speech: deque[int] = deque(maxlen=500)  # RMS of loud, non-tonal frames

    def feed(self, frame: FrameFeatures) -> Tone | None:
        start, self.now_ms = self.now_ms, self.now_ms + frame.ms
        tonal = self._tonal(frame)
        if self._run is not None and tonal and self._run.matches(frame, self.rules.hz_tolerance):
            self._run.add(frame)
        else:
            self._close_run()
            if tonal:
                self._run = _Run(start, frame)
                self._pending = None  # another tone came too soon after it: not a beep
        if not tonal and frame.rms >= self.rules.min_rms:
            self._speech.append(frame.rms)
        return self._confirmed()

    def finish(self) -> Tone | None:
        """The stream ended: a beep waiting for its quiet after is confirmed."""
        self._close_run()
        beep, self._pending = self._pending, None
        return beep

    @property
    def pending(self) -> bool:
        """A tone that may be a beep has ended; whether it stands alone is not known yet."""
        return self._pending is not None

    @property
    def in_tone(self) -> bool:
        """A tone is sounding now (the frames so far are a run)."""
        return self._run is not None

    def _tonal(self, frame: FrameFeatures) -> bool:
        r = self.rules
        slack = 1 + r.hz_tolerance  # a tone at a bound is measured a hair either side
        return (
            frame.rms >= r.min_rms
            and frame.purity >= r.min_purity
            and r.min_hz / slack <= frame.hz <= r.max_hz * slack
        )

    def _close_run(self) -> None:
        run, self._run = self._run, None
        if run is None or run.end_ms - run.start_ms < MIN_TONE_MS:
            return
        tone = run.tone()
        alone_before = (
            self._last_tone_end is None
            or tone.start_ms - self._last_tone_end >= self.rules.isolation_ms
        )
        self._last_tone_end = tone.end_ms
        self.tones.append(tone)
        if alone_before and self._beep_shaped(tone):
            self._pending = tone

    def _beep_shaped(self, tone: Tone) -> bool:
        r = self.rules
        # Whole frames only: a tone of min_ms fills at least min_ms - 30 ms of them,
        # wherever it starts within a frame.
        if not r.min_ms - WHOLE_FRAMES_SLACK_MS <= tone.duration_ms <= r.max_ms:
            return False
        if not self._speech:
            return True
        speech = statistics.median(self._speech)
        return tone.rms >= speech * 10 ** (-r.below_speech_db / 20)

    def _confirmed(self) -> Tone | None:
        pending = self._pending
        if pending is None or self._run is not None:
            return None
        if self.now_ms - pending.end_ms < self.rules.isolation_ms:
            return None
        self._pending = None
        return pending


def find_beeps(pcm: bytes, rate: int = 8000, frame_ms: int = 20) -> list[Tone]:
    """Every beep in a whole recording (little-endian 16-bit mono), in order."""
    detector = BeepDetector()
    step = rate * frame_ms // 1000 * 2
    found = [
        beep
        for start in range(0, len(pcm) - step + 1, step)
        if (beep := detector.feed(measure(pcm[start : start + step], rate))) is not None
    ]
    last = detector.finish()
    return [*found, last] if last is not None else found
