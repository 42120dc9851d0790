"""What a campaign asks of its calls: answering machines, hold queues and recording.

Why in common: the plan (task_manager) chooses it, the scheduler hands it to the call in
its context, the agent (audio_processing) follows it and the analyzer (task_manager)
decides the task's next step by it; one definition below all of them keeps the values
the same everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

DEFAULT_MAX_HOLD_MINUTES = 30
# A GA Realtime session lasts at most 60 minutes and the agent keeps its session open on
# hold (docs/protocols.md, Answering machines, beeps and hold): room is left to talk.
MAX_HOLD_MINUTES = 50


class VoicemailPolicy(StrEnum):
    HANG_UP_AND_RETRY = "hang_up_and_retry"  # hang up, say nothing, call again later
    LEAVE_MESSAGE = "leave_message"  # wait for the beep, leave a short message, hang up
    NOTIFY_PERSON = "notify_person"  # hang up and ask the person what to do

    @classmethod
    def parse(cls, value: object) -> VoicemailPolicy:
        try:
            return cls(str(value))
        except ValueError:
            return cls.HANG_UP_AND_RETRY


class RecordingPolicy(StrEnum):
    """Whether Asterisk records the call (both sides, docs/protocols.md, Recording)."""

    OFF = "off"
    ANNOUNCE = "announce"  # recorded, and the agent says so in its opening disclosure
    ON = "on"  # recorded without a word: only where the law lets one party consent

    @classmethod
    def parse(cls, value: object) -> RecordingPolicy:
        try:
            return cls(str(value))
        except ValueError:
            return cls.OFF

    @property
    def records(self) -> bool:
        return self is not RecordingPolicy.OFF


@dataclass(frozen=True, slots=True)
class CallPolicy:
    voicemail: VoicemailPolicy = VoicemailPolicy.HANG_UP_AND_RETRY
    message_counts: bool = False  # a left message counts as the task's success
    max_hold_minutes: int = DEFAULT_MAX_HOLD_MINUTES
    asterisk_amd: bool = False  # run Asterisk's AMD() too (costs the callee's greeting)
    recording: RecordingPolicy = RecordingPolicy.OFF

    def to_context(self) -> dict[str, Any]:
        """The keys the scheduler puts in a call's context (task_manager's agent_context)."""
        return {
            "voicemail_policy": str(self.voicemail),
            "voicemail_message_counts": self.message_counts,
            "max_hold_minutes": self.max_hold_minutes,
            "asterisk_amd": self.asterisk_amd,
            "recording": str(self.recording),
        }

    @classmethod
    def from_context(cls, context: Mapping[str, Any]) -> CallPolicy:
        """Read back from a call's context; anything missing or malformed is the default."""
        minutes = context.get("max_hold_minutes")
        if not isinstance(minutes, int) or isinstance(minutes, bool):
            minutes = DEFAULT_MAX_HOLD_MINUTES
        return cls(
            voicemail=VoicemailPolicy.parse(context.get("voicemail_policy")),
            message_counts=context.get("voicemail_message_counts") is True,
            max_hold_minutes=max(1, min(MAX_HOLD_MINUTES, minutes)),
            asterisk_amd=context.get("asterisk_amd") is True,
            recording=RecordingPolicy.parse(context.get("recording")),
        )
