"""The one door from the task engine to live calls, owned by the task engine.

Why an interface here: task_manager sits beside web_interface above call_processor and must
not depend on how a call is placed. main.py adapts the call initiator to `CallLauncher`;
tests use a scripted launcher that records what was launched.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class PlannedCall:
    """One attempt at one task, as the scheduler decided it."""

    user_id: int
    task_id: int
    phone_number: str  # E.164
    attempt_number: int
    campaign_id: int | None = None
    # What the agent needs: objective, contact, success criteria, campaign goal, notes
    # from earlier attempts (inter_call_context).
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CallReport:
    """How one call ended. The transcript is read from call_turns by call_id."""

    call_id: str | None  # None when no calls row was ever written
    status: str  # a CallStatus value: completed, busy, no_answer, ..., interrupted
    outcome: str = ""
    answered: bool = False
    hangup_cause: int | None = None
    hangup_cause_text: str | None = None
    duration_seconds: float | None = None
    summary: str = ""
    facts: Mapping[str, Any] = field(default_factory=dict)
    agent_outcome: str | None = None  # end_call's outcome, when the agent ended the call
    amd_status: str | None = None


OnCallDone = Callable[[PlannedCall, CallReport], Awaitable[None]]


class CallLauncher(Protocol):
    def capacity(self) -> int:
        """Calls this process can start now without waiting for a slot."""
        ...

    def launch(self, call: PlannedCall, on_done: OnCallDone) -> None:
        """Start the call in the background; `on_done` runs once when it has ended."""
        ...
