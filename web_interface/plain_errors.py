"""Validation errors in plain words for the pages: "is too long (at most 200 characters)",
never pydantic's "Value error, ..." or "String should have at most 200 characters".

The JSON API keeps pydantic's shape (errors.py); a person reading a form gets these.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_WORDS = {
    "string_too_long": "is too long (at most {max_length} characters)",
    "string_too_short": "is too short (at least {min_length} characters)",
    "too_long": "has too many entries (at most {max_length})",
    "too_short": "needs at least {min_length} entries",
    "missing": "is needed",
    "int_parsing": "must be a whole number",
    "less_than_equal": "must be at most {le}",
    "greater_than_equal": "must be at least {ge}",
    "string_pattern_mismatch": "is not in the expected form",
    "extra_forbidden": "is not a field of this form",
}


def plain(error: Mapping[str, Any]) -> str:
    """One pydantic error as a phrase that follows the field's name."""
    kind = str(error.get("type", ""))
    context = error.get("ctx") or {}
    if kind == "string_too_short" and context.get("min_length") == 1:
        return "is empty"
    if kind in _WORDS:
        try:
            return _WORDS[kind].format(**context)
        except (KeyError, IndexError):
            pass
    message = str(error.get("msg", "is not valid"))
    return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
