"""The one door from the task engine to live calls, owned by the task engine.

Why an interface here: task_manager sits beside web_interface above call_processor and
must not depend on how a call is placed, only on how one ended: the FinishedCall read
from the call's closed row (call_processor's public outcome type). main.py adapts the
call initiator to `CallLauncher`; tests use a scripted launcher that records launches.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from call_processor.finished_call import FinishedCall


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
    detect_machine: bool = False  # ask Asterisk for answering-machine detection (AMD)


OnCallDone = Callable[[PlannedCall, FinishedCall], Awaitable[None]]


class CallLauncher(Protocol):
    def capacity(self) -> int:
        """Calls this process can start now without waiting for a slot."""
        ...

    def launch(self, call: PlannedCall, on_done: OnCallDone) -> None:
        """Start the call in the background; `on_done` runs once when it has ended."""
        ...
