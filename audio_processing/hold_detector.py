"""Hold, heard in the callee's audio: music or tones going on, and a person coming back.

Pure and streaming, over the frames the bridge already has (silence filled in while
Asterisk sends nothing). Two watchers, one per side of a hold:

- `MusicWatch` (not on hold): music or tones have gone on for a while. A frame is
  *steady* when it is loud and its dominant frequency (±2%) and loudness (±25%) match the
  frame before; speech never is for long (≤ 15% of any second of the sandbox's person and
  voicemail prompts), a note or chord is (95% of the hold far end's music). Music holds
  more than one note in a second; one long tone is not music (a voicemail beep may last
  1.5 s). Hold tones (440 Hz, 300 ms on, 200 ms off) are caught as a cadence of like
  tones instead.
- `PersonWatch` (on hold): a person speaks, then waits for an answer. Sound that is not
  music is a *segment*; a segment followed by music is a recorded announcement (it is
  remembered); one followed by 800 ms of quiet is a person, unless its last 800 ms sound
  like a stretch of a remembered announcement (loudness within 0.75 dB on average; on
  synthetic speech a replay on the same framing is within 0.34 dB, other utterances 1.15
  dB or more apart). A mistaken "person" costs little: the model, told the hold seems
  over, goes back on hold itself if what it hears is a recording.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from audio_processing.beep_detector import Tone
from audio_processing.frame_features import FrameFeatures

LOUD_RMS = 300  # below this a frame is quiet (-40 dBFS)
BLOCK_FRAMES = 5  # announcements are compared in 100 ms blocks
SPEECH_RUN = 5  # speech-like frames in a row that are surely speech (see _spoken)


def steady(frame: FrameFeatures, before: FrameFeatures | None) -> bool:
    """Loud, and the same note as the frame before (frequency ±2%, loudness ±25%)."""
    if before is None or frame.rms < LOUD_RMS or before.rms < LOUD_RMS:
        return False
    same_note = abs(frame.hz - before.hz) <= 0.02 * max(frame.hz, 1.0)
    return same_note and 0.8 <= frame.rms / before.rms <= 1.25


class _Window:
    """The last `frames` frames' loud and steady flags, counted, and the notes held."""

    def __init__(self, frames: int) -> None:
        self.flags: deque[tuple[bool, bool, float]] = deque(maxlen=frames)
        self.loud = self.steady = 0

    def push(self, loud: bool, is_steady: bool, hz: float = 0.0) -> None:
        if len(self.flags) == self.flags.maxlen:
            old_loud, old_steady, _ = self.flags[0]
            self.loud -= old_loud
            self.steady -= old_steady
        self.flags.append((loud, is_steady, hz))
        self.loud += loud
        self.steady += is_steady

    def notes_differ(self) -> bool:
        """The steady frames hold more than one note (a tune, not one long tone)."""
        held = [hz for _, is_steady, hz in self.flags if is_steady]
        return bool(held) and max(held) > 1.03 * min(held)

    @property
    def full(self) -> bool:
        return len(self.flags) == self.flags.maxlen

    def share(self, count: int) -> float:
        return count / len(self.flags) if self.flags else 0.0


@dataclass(frozen=True, slots=True)
class MusicRules:
    window_ms: float = 1000.0  # music-like: in the last second...
    min_loud: float = 0.9  # ...this share of frames loud
    min_steady: float = 0.6  # ...and this share steady
    sustain_ms: float = 800.0  # music-like for this long: on hold
    cadence_tones: int = 3  # or this many like tones (hold tones, ringback)...
    cadence_ms: float = 2500.0  # ...within this long


class MusicWatch:
    """`feed(frame, tones)` is True once music or tones have gone on long enough."""

    def __init__(self, rules: MusicRules | None = None, frame_ms: float = 20.0) -> None:
        self.rules = rules or MusicRules()
        self._window = _Window(max(1, round(self.rules.window_ms / frame_ms)))
        self._before: FrameFeatures | None = None
        self._music_ms = 0.0
        self.now_ms = 0.0

    def feed(self, frame: FrameFeatures, tones: Sequence[Tone] = ()) -> bool:
        self.now_ms += frame.ms
        self._window.push(frame.rms >= LOUD_RMS, steady(frame, self._before), frame.hz)
        self._before = frame
        music = self._music_like()
        self._music_ms = self._music_ms + frame.ms if music else 0.0
        return self._music_ms >= self.rules.sustain_ms or self._cadence(tones)

    def _music_like(self) -> bool:
        w, r = self._window, self.rules
        return (
            w.full
            and w.share(w.loud) >= r.min_loud
            and w.share(w.steady) >= r.min_steady
            and w.notes_differ()
        )

    def _cadence(self, tones: Sequence[Tone]) -> bool:
        recent = [t for t in tones if self.now_ms - t.end_ms <= self.rules.cadence_ms]
        if len(recent) < self.rules.cadence_tones:
            return False
        hz = recent[-1].hz
        alike = [t for t in recent if abs(t.hz - hz) <= 0.03 * hz]
        return len(alike) >= self.rules.cadence_tones


@dataclass(frozen=True, slots=True)
class PersonRules:
    music_window_ms: float = 500.0  # music again: steady in this share of the last 0.5 s
    music_steady: float = 0.5
    music_ends_segment_ms: float = 300.0  # this much music after a segment: announcement
    # This much quiet after a segment: a person waiting. Not less: the sandbox's queue
    # pauses ~300 ms after its announcement, longer on a busy host.
    quiet_ms: float = 800.0
    min_speech_ms: float = 200.0  # shorter segments are clicks and noise
    match_ms: float = 800.0  # the tail compared with remembered announcements
    match_db: float = 0.75  # mean loudness difference under which it is the same recording


class PersonWatch:
    """On hold: `feed(frame)` is True when a person has spoken and is waiting.

    Sound already going on when the hold began (the "please hold" itself) is not a
    segment: a segment starts only after a gap of quiet or music.
    """

    def __init__(self, rules: PersonRules | None = None, frame_ms: float = 20.0) -> None:
        self.rules = rules or PersonRules()
        self.frame_ms = frame_ms
        self._window = _Window(max(1, round(self.rules.music_window_ms / frame_ms)))
        self._before: FrameFeatures | None = None
        self._segment: list[tuple[float, bool]] | None = None  # (dB, speech-like) per frame
        self._speech_ms = 0.0
        self._quiet_ms = 0.0
        self._music_ms = 0.0
        self._gap_seen = False
        self.announcements: list[list[float]] = []
        self.segment_started_ms: float | None = None
        self.now_ms = 0.0

    def feed(self, frame: FrameFeatures) -> bool:
        self.now_ms += frame.ms
        loud, is_steady = frame.rms >= LOUD_RMS, steady(frame, self._before)
        self._window.push(loud, is_steady)
        self._before = frame
        music = is_steady and self._window.share(self._window.steady) >= self.rules.music_steady
        self._quiet_ms = 0.0 if loud else self._quiet_ms + frame.ms
        self._music_ms = self._music_ms + frame.ms if music else 0.0
        if not self._gap_seen:
            self._gap_seen = self._quiet_ms >= 300 or self._music_ms >= 300
            return False
        speechy = loud and not is_steady  # per frame: the window lags a change by 0.3 s
        if self._segment is None:
            if not speechy:
                return False
            self._segment, self._speech_ms = [], 0.0
            self.segment_started_ms = self.now_ms - frame.ms
        self._segment.append((_db(frame.rms), speechy))
        self._speech_ms += frame.ms if speechy else 0.0
        return self._segment_over()

    def _segment_over(self) -> bool:
        segment, r = self._segment, self.rules
        assert segment is not None
        if self._music_ms >= r.music_ends_segment_ms:
            if self._speech_ms >= r.min_speech_ms:
                self.announcements.append(_spoken(segment))
            self._segment = None
            return False
        if self._quiet_ms < r.quiet_ms:
            return False
        self._segment = None
        return self._speech_ms >= r.min_speech_ms and not self._announced(_spoken(segment))

    def _announced(self, spoken: list[float]) -> bool:
        """The segment ends as a remembered announcement does somewhere: its last
        `match_ms` of loudness (smoothed over 100 ms) lies within `match_db` on average of
        some stretch of one. A recording replays on the same 20 ms framing (a PBX plays its
        file frame by frame), so a replay matches to a fraction of a dB."""
        tail = _smoothed(spoken)[-round(self.rules.match_ms / self.frame_ms) :]
        for known in self.announcements:
            heard = _smoothed(known)
            for start in range(len(heard) - len(tail) + 1):
                if _mean_gap(tail, heard[start : start + len(tail)]) <= self.rules.match_db:
                    return True
        return False


def _spoken(segment: list[tuple[float, bool]]) -> list[float]:
    """The segment's loudness from its first to its last SPEECH_RUN speech-like frames in a
    row: music before or after is not part of what was said (a chord change, or music
    starting mid-frame, makes up to three unsteady frames among steady ones; a syllable
    makes more in a row)."""
    n = SPEECH_RUN
    runs = [i for i in range(len(segment) - n + 1) if all(s for _, s in segment[i : i + n])]
    if not runs:
        return []
    return [db for db, _ in segment[runs[0] : runs[-1] + n]]


def _smoothed(dbs: list[float]) -> list[float]:
    """Each frame's loudness as the mean power of it and the BLOCK_FRAMES - 1 before it."""
    power = [10 ** (db / 10) for db in dbs]
    out = []
    for end in range(1, len(power) + 1):
        block = power[max(0, end - BLOCK_FRAMES) : end]
        out.append(10 * math.log10(sum(block) / len(block)))
    return out


def _db(rms: int) -> float:
    return 20 * math.log10(rms + 1)


def _mean_gap(a: list[float], b: list[float]) -> float:
    return sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a)
