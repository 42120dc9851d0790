"""Phone numbers typed by people, turned into the E.164 form everything stores."""

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
