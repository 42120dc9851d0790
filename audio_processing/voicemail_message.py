"""The message the agent leaves on an answering machine. Pure.

Why composed here and not by the model from the whole brief: a recording can be heard by
anyone with access to that mailbox, so the message says only who is calling for whom and
what about (the task's objective), never the facts the person shared with the agent or
what they said they want kept private. The model still speaks it, in its own voice.
"""

from __future__ import annotations

MAX_OBJECTIVE_CHARS = 200


def voicemail_message(on_behalf_of: str, objective: str, callee: str = "") -> str:
    """E.g. "Hello Dr Lee, this is an AI assistant calling on behalf of Dana Example
    about booking a cleaning. We will try again later. Goodbye." """
    hello = f"Hello {callee.strip()}," if callee.strip() else "Hello,"
    about = _shortened(" ".join(objective.split()).rstrip(".")) or "a matter for them"
    who = on_behalf_of.strip() or "a client"
    return (
        f"{hello} this is an AI assistant calling on behalf of {who} about {about}. "
        "We will try again later. Goodbye."
    )


def message_instructions(message: str) -> str:
    """The per-response instructions that make the model say exactly the message."""
    return (
        "You have reached an answering machine and the beep has sounded. Leave this "
        f'message, word for word, and say nothing else: "{message}"'
    )


def _shortened(text: str) -> str:
    """At most MAX_OBJECTIVE_CHARS, cut at a word boundary."""
    if len(text) <= MAX_OBJECTIVE_CHARS:
        return text
    return text[: MAX_OBJECTIVE_CHARS + 1].rsplit(" ", 1)[0]
