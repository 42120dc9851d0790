"""What the person said the agent must never share: named by kind, watched for as values.

Why both: the items are the person's own words ("my salary", "SSN 123-45-6789"). Their
kinds go into the agent's instructions, but never their values (digits, e-mail
addresses): a prompt-injected callee can make a model repeat its instructions. The values
are instead watched for in what the agent says, and a mention is recorded on the call.
Pure: no I/O.
"""

from __future__ import annotations

import re

# A value: four or more digits (separators allowed between them), or an e-mail address.
_VALUE = re.compile(r"(?:\d[\s\-./]?){4,}|[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_ONLY_DIGITS = re.compile(r"\D")


def kinds(items: tuple[str, ...]) -> tuple[str, ...]:
    """Each item with its values blanked ("SSN 123-45-6789" → "SSN …"); empty ones drop."""
    out = (" ".join(_VALUE.sub("…", item).split()) for item in items)
    return tuple(kind for kind in out if kind.strip("… "))


def values(items: tuple[str, ...]) -> tuple[str, ...]:
    """The values inside the items, in a comparable form (digits only, or the address)."""
    found = (match.group(0) for item in items for match in _VALUE.finditer(item))
    return tuple(dict.fromkeys(_comparable(value) for value in found))


def mentioned(text: str, watched: tuple[str, ...]) -> list[int]:
    """Indexes of the watched values that appear in `text` (spoken digits included)."""
    said = {_comparable(match.group(0)) for match in _VALUE.finditer(text)}
    digits = _ONLY_DIGITS.sub("", text)
    return [
        n
        for n, value in enumerate(watched)
        if value in said or (value.isdigit() and value in digits)
    ]


def _comparable(value: str) -> str:
    return value.lower() if "@" in value else _ONLY_DIGITS.sub("", value)
