"""The outcomes the agent may give when it ends a call (the end_call tool's `outcome`).

Why in common: the tool schema offered to the model (audio_processing) and the analyzer
that turns an outcome into the task's next state (task_manager) must list the same values;
one enum below both keeps a value offered to the model from going undecided, or the reverse.
"""

from __future__ import annotations

from enum import StrEnum


class AgentOutcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    CALLBACK_REQUESTED = "callback_requested"
    NEEDS_USER = "needs_user"
    DO_NOT_CALL = "do_not_call"
    WRONG_NUMBER = "wrong_number"
    VOICEMAIL = "voicemail"

    @classmethod
    def parse(cls, value: object) -> AgentOutcome | None:
        """The outcome named by a model's argument or a stored column; None for anything else.

        The schema restricts the model to these values, but a stored row or a model that
        ignores the schema must not crash the call's end.
        """
        try:
            return cls(str(value))
        except ValueError:
            return None
