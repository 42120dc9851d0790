"""What the agent is told about the task for one call, and the instructions made from it.

Why apart from the session config: the brief is the task's words (objective, facts the
agent may or may not share), built by the call processor from rows; the session config
is wire format. Pure, no database rows and no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_DISCLOSURE = (
    "You are an AI assistant. Say so at the start of the call, and again whenever asked."
)


@dataclass(frozen=True)
class CallBrief:
    """What the agent needs to know about the task for this call (no database rows)."""

    objective: str
    on_behalf_of: str
    person_said: str = ""
    success_criteria: str = ""
    callee: str = ""
    language: str = ""
    allowed_facts: Mapping[str, str] = field(default_factory=dict)
    forbidden_facts: tuple[str, ...] = ()
    disclosure: str = DEFAULT_DISCLOSURE


def build_instructions(brief: CallBrief) -> str:
    """The session instructions: who we are, for whom, what to achieve, what not to share."""
    lines = [
        f"You are on a phone call on behalf of {brief.on_behalf_of}.",
        brief.disclosure,
        f"Objective: {brief.objective}",
    ]
    if brief.callee:
        lines.append(f"You are calling: {brief.callee}")
    if brief.person_said:
        lines.append(f"What {brief.on_behalf_of} told you: {brief.person_said}")
    if brief.success_criteria:
        lines.append(f"The call succeeds when: {brief.success_criteria}")
    if brief.allowed_facts:
        facts = "; ".join(f"{k}: {v}" for k, v in brief.allowed_facts.items())
        lines.append(f"You may share these facts when needed: {facts}")
    if brief.forbidden_facts:
        lines.append("Never share: " + ", ".join(brief.forbidden_facts) + ".")
    if brief.language:
        lines.append(f"Speak {brief.language}.")
    lines += [
        "Speak briefly and naturally, one idea at a time; let the callee finish.",
        "Use send_dtmf for phone menus. Use record_fact for anything worth keeping.",
        "If only the person can answer a question, use request_user_feedback.",
        "On a voicemail greeting, call report_voicemail: the campaign's voicemail policy decides.",
        "When done, say goodbye, then call end_call with the outcome and a short summary.",
    ]
    return "\n".join(lines)
