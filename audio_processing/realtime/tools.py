"""The function tools offered to the Realtime model, as GA `session.tools` schemas. No I/O.

Why in one table: the bridge, the call's tool host and the instructions all name these
tools; a name offered here and handled nowhere (or the reverse) shows up in one place.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from common.call_outcomes import AgentOutcome


def _tool(
    name: str, description: str, properties: dict[str, Any], required: list[str]
) -> dict[str, Any]:
    params: dict[str, Any] = {"type": "object", "properties": properties, "required": required}
    params["additionalProperties"] = False
    return {"type": "function", "name": name, "description": description, "parameters": params}


def _text(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


TOOLS: dict[str, dict[str, Any]] = {
    "send_dtmf": _tool(
        "send_dtmf",
        "Press keys on the phone keypad, e.g. to navigate a phone menu.",
        {"digits": _text("Keys to press, in order.", pattern="^[0-9*#A-D]{1,32}$")},
        ["digits"],
    ),
    "end_call": _tool(
        "end_call",
        "Hang up after saying goodbye. Call it once the objective is met or cannot be met.",
        {
            "outcome": _text("How the call went.", enum=[o.value for o in AgentOutcome]),
            "summary": _text("Two or three sentences: what was said and decided."),
        },
        ["outcome", "summary"],
    ),
    "report_voicemail": _tool(
        "report_voicemail",
        "Call this as soon as you hear a voicemail greeting or an answering machine rather "
        "than a person. Say nothing more: the call follows the campaign's voicemail policy.",
        {},
        [],
    ),
    "report_on_hold": _tool(
        "report_on_hold",
        "Call this when the callee puts you on hold (after a short 'Of course, I'll wait'), "
        "or when you hear hold music or a recorded announcement. Then stay silent: you will "
        "hear the call again when a person speaks to you.",
        {},
        [],
    ),
    "request_user_feedback": _tool(
        "request_user_feedback",
        "Ask the person you are calling for a question only they can answer; "
        "keep the callee engaged while you wait for the answer.",
        {"question": _text("The question for the person, self-contained.")},
        ["question"],
    ),
    "transfer_to_user": _tool(
        "transfer_to_user",
        "Connect the callee to the person you are calling for (only when asked to).",
        {},
        [],
    ),
    "record_fact": _tool(
        "record_fact",
        "Remember a fact learned on the call (a price, a date, a reference number).",
        {"key": _text("Short snake_case name."), "value": _text("The fact.")},
        ["key", "value"],
    ),
    "schedule_callback": _tool(
        "schedule_callback",
        "Arrange to call back later when the callee asks for it.",
        {
            "when": _text(
                "When to call back, as the callee's local date and time in ISO 8601 "
                "(e.g. 2026-12-08T15:00; their local time now is in your instructions); "
                "their own words only if they gave no time."
            )
        },
        ["when"],
    ),
    "send_sms": _tool(
        "send_sms",
        "Send a text message to the person you are calling for.",
        {"text": _text("The message.")},
        ["text"],
    ),
    "send_email": _tool(
        "send_email",
        "Send an email to the person you are calling for.",
        {"subject": _text("Subject line."), "body": _text("Plain-text body.")},
        ["subject", "body"],
    ),
}


def tool_schemas(names: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """The function tools to offer, all by default; unknown names are a programming error."""
    chosen = list(TOOLS) if names is None else list(names)
    unknown = [n for n in chosen if n not in TOOLS]
    if unknown:
        raise ValueError(f"unknown tools: {unknown}")
    return [TOOLS[n] for n in chosen]


class ToolHost(Protocol):
    """Runs the model's tools for one call (DTMF via the command bus, feedback rows, ...).

    Returns the text given back to the model as the function output. `end_call`,
    `report_voicemail` and `report_on_hold` never reach the host: the bridge itself lets
    the goodbye play and ends the call, or follows the campaign's policy. Whatever a tool
    learns (the facts of `record_fact`) is the host's alone to keep and store.
    """

    async def call_tool(self, name: str, args: dict[str, Any]) -> str: ...
