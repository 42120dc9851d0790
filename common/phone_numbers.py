"""Phone numbers typed by people or models, turned into the E.164 form everything stores.

One function for every entry point (plans, test calls, the profile, the do-not-call list),
so a number is accepted or refused for the same reason wherever it is typed. The message
is a reason a person can act on, worded to follow the number: `"555" is not a valid ...`.
"""

from __future__ import annotations

import phonenumbers

MAX_INPUT = 40


def to_e164(raw: str, default_region: str) -> str:
    """E.164 for a valid number; ValueError with a message a person can act on."""
    text = raw.strip()
    if not text or len(text) > MAX_INPUT:
        raise ValueError("enter a phone number, for example +14155550123")
    try:
        parsed = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        raise ValueError(
            "is not a phone number; use the international form, e.g. +14155550123"
        ) from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError("is not a valid phone number for its country")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
