"""The scripted planning assistant and post-call judge behind the demo's chat endpoint. Pure.

Why scripted on the request the product sends: the planning chat (task_manager/
ui_assistant_svc.py) and the judge (task_manager/call_judge.py) run unchanged, so the demo
answers their chat-completions requests: a clarifying question, then a `propose_plan`
tool call with three calls to the demo dentists, then a few words on the plan; and a
verdict in the judge's JSON schema read from the call's own record.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from launcher.demo.callees import DENTISTS

CLARIFY = (
    "Happy to help. Which days or times suit you for the cleaning? "
    '(Say "any time" if you are flexible.)'
)
PLAN_SHOWN = (
    "Here is the plan: three calls, one to each demo dental office. Change anything you "
    "like, then press Confirm and schedule."
)
HELP = (
    "In this demo I can plan calls to three demo dental offices. "
    'Try: "call three dentists and book a cleaning".'
)
_ASKS_FOR_DENTISTS = re.compile(r"dentist|dental|cleaning", re.IGNORECASE)
_WHEN = re.compile(
    r"\b(mon|tue|wed|thu|fri|sat|sun)[a-z]*\b|\bmorning|afternoon|evening|any ?time|\d\s*(am|pm)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]


Reply = Text | ToolCall


def _content(message: dict[str, Any]) -> str:
    content = message.get("content")
    return content if isinstance(content, str) else ""


def plan_for(preference: str) -> dict[str, Any]:
    """Three calls, one per demo dentist; the person's preference goes to every agent."""
    wish = f" They prefer: {preference.strip()}." if preference.strip() else ""
    return {
        "name": "Dental cleaning",
        "goal": "Book a dental cleaning",
        "voicemail_policy": "leave_message",
        "tasks": [
            {
                "contact_name": dentist.name,
                "phone_number": dentist.number,
                "objective": f"Book a dental cleaning at {dentist.name.removesuffix(' (demo)')}."
                + wish,
                "success_criteria": "An appointment day and time were agreed.",
                "max_attempts": 1,
            }
            for dentist in DENTISTS
        ],
    }


def planner_reply(messages: list[dict[str, Any]]) -> Reply:
    """The next reply of the planning chat, given the conversation the product sent."""
    last = messages[-1] if messages else {}
    if last.get("role") == "tool":
        result = _json(_content(last))
        if result.get("accepted"):
            return Text(PLAN_SHOWN)
        problems = "; ".join(str(p) for p in result.get("problems", []))
        return Text(f"The plan was refused: {problems}")
    said = _content(last)
    asked_when = any(m.get("role") == "assistant" and _content(m) == CLARIFY for m in messages[:-1])
    if asked_when:
        return ToolCall("propose_plan", {"plan": plan_for(said)})
    if not _ASKS_FOR_DENTISTS.search(said):
        return Text(HELP)
    if _WHEN.search(said):
        return ToolCall("propose_plan", {"plan": plan_for(said)})
    return Text(CLARIFY)


def _json(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def verdict(record: str) -> dict[str, Any]:
    """The judge's verdict on one call, read from the record the product renders
    (task_manager/call_judge.py, `render`): the agent's own outcome decides."""
    outcome = _field(record, "Agent's outcome")
    summary = _field(record, "Agent's summary")
    machine = "answering machine" in _field(record, "Answered by")
    if outcome == "success":
        return _verdict("success", "A day and time were agreed.", summary)
    if machine:
        left = "a message was left" in _field(record, "Answered by")
        reason = "An answering machine answered" + ("; a message was left." if left else ".")
        return _verdict("failed", reason, "")
    if outcome == "needs_user":
        return _verdict("needs_user", summary or "The person must decide.", "")
    return _verdict("failed", summary or "The call did not book an appointment.", "")


def _field(record: str, name: str) -> str:
    found = re.search(rf"^{re.escape(name)}: (.*)$", record, re.MULTILINE)
    value = found.group(1).strip() if found else ""
    return "" if value == "(none)" else value


def _verdict(decision: str, reason: str, booked: str) -> dict[str, Any]:
    return {
        "decision": decision,
        "reason": reason,
        "result": [{"key": "booked", "value": booked}] if booked else [],
        "retry_after_minutes": None,
        "notes_for_next_attempt": "",
    }
