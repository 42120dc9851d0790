"""Phone numbers typed by people or models, turned into the E.164 form everything stores;
the caller id of an inbound call, looked up the same way; and the digits of a dial string.

One function for every entry point (plans, test calls, the profile, the do-not-call list),
so a number is accepted or refused for the same reason wherever it is typed. The message
is a reason a person can act on, worded to follow the number: `"555" is not a valid ...`.
"""

from __future__ import annotations

import contextlib
import re

import phonenumbers

MAX_INPUT = 40
# 555 is no North American area code; 555-0100 to 555-0199 after a real one is the range
# reserved for fiction, and those numbers pass the check (README, Test numbers).
FICTIONAL_HINT = (
    "; 555 is not an area code: for a made-up North American number use 555-0100 to "
    "555-0199 after a real area code, e.g. +1 415 555 0123"
)
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")


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
        hint = FICTIONAL_HINT if _fictional_area(parsed) else ""
        raise ValueError(f"is not a valid phone number for its country{hint}")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _fictional_area(parsed: phonenumbers.PhoneNumber) -> bool:
    return parsed.country_code == 1 and str(parsed.national_number).startswith("555")


def caller_numbers(raw: str, default_region: str) -> tuple[str, ...]:
    """The E.164 spellings an inbound caller id may be stored under; () when it has none.

    A caller id is what the network delivered: "+44…", "0044…", "020…" (Asterisk copies
    it as it came: docs/protocols.md, Routing and caller number). A valid number is
    normalised like a typed one; one already in "+digits" form is also kept as delivered,
    because a number we dialled is stored as we dialled it, and a range phonenumbers does
    not know yet must still find the call it returns.
    """
    found: list[str] = []
    with contextlib.suppress(ValueError):
        found.append(to_e164(raw, default_region))
    text = raw.strip()
    if _E164.fullmatch(text) and text not in found:
        found.append(text)
    return tuple(found)


def dial_digits(number: str) -> str:
    """The digits of an E.164 number for a dial string; anything else is refused.

    Why strict: the number lands inside an Asterisk channel string, where '&', '/', ','
    or a newline would dial something else or inject AMI headers.
    """
    digits = number.removeprefix("+")
    if not digits.isdigit() or not 3 <= len(digits) <= 20 or not digits.isascii():
        raise ValueError("a phone number must be + and 3 to 20 digits")
    return digits
