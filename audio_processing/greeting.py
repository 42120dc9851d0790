"""The callee's first words after answering: when they began, how long they went on.

Why: a person picks up with a short "hello?" and waits; a machine plays a long recorded
greeting (docs/protocols.md, Answering machines, beeps and hold). So the agent lets the
callee speak first, and the length of that opening utterance is one signal of a machine.
It is never enough alone: the sandbox's person far end says 4.4 s ("hello world" and a
sentence) and its voicemail 5.7 s, so length only backs up a beep or the model's own
judgement. Pure and streaming; times are audio time from the stream's start.
"""

from __future__ import annotations

from dataclasses import dataclass

from audio_processing.frame_features import FrameFeatures


@dataclass(frozen=True, slots=True)
class GreetingRules:
    speech_rms: int = 300  # a louder frame is speech (-40 dBFS)
    pause_ms: float = 500.0  # a shorter silence is inside the utterance (the server VAD's)
    machine_ms: float = 2500.0  # an opening utterance this long sounds recorded


class Greeting:
    """Feed every caller frame; read who spoke first, and how long for."""

    def __init__(self, rules: GreetingRules | None = None) -> None:
        self.rules = rules or GreetingRules()
        self.now_ms = 0.0
        self.first_speech_ms: float | None = None
        self.speech_ms = 0.0  # the opening utterance: first speech to the last before a pause
        self.words = 0  # bursts of speech in it (cadence)
        self.over = False  # the opening utterance has ended with a pause
        self.quiet_ms = 0.0  # since the last speech, or since the start

    def feed(self, frame: FrameFeatures) -> None:
        self.now_ms += frame.ms
        if frame.rms < self.rules.speech_rms:
            self.quiet_ms += frame.ms
            if self.first_speech_ms is not None and self.quiet_ms >= self.rules.pause_ms:
                self.over = True
            return
        if self.first_speech_ms is None:
            self.first_speech_ms = self.now_ms - frame.ms
        if not self.over:
            self.words += self.quiet_ms > 0 or self.words == 0
            self.speech_ms = self.now_ms - self.first_speech_ms
        self.quiet_ms = 0.0

    @property
    def spoke(self) -> bool:
        return self.first_speech_ms is not None

    @property
    def machine_like(self) -> bool:
        """Long enough to be a recording (see the module's note: a signal, not a verdict)."""
        return self.speech_ms >= self.rules.machine_ms
