"""Redis channel and key names: one function each, so no module spells them by hand."""

from __future__ import annotations


def call_commands(call_id: str) -> str:
    """Commands for one live call (send_dtmf, hangup, transfer, feedback answers)."""
    return f"call_commands:{call_id}"


def user_events(user_id: int | str) -> str:
    """Live events for one person's browser pages (call progress, turns, questions)."""
    return f"user_events:{user_id}"


def call_audio(call_id: str) -> str:
    """Both sides of one live call's audio while its owner listens (live_listen.py)."""
    return f"call_audio:{call_id}"


def call_slots(name: str = "global") -> str:
    """The sorted set holding the global concurrency semaphore's slots."""
    return f"call_slots:{name}"
