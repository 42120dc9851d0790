"""Phone numbers: a delivered caller id's E.164 spellings, and a dial string's digits."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.phone_numbers import caller_numbers, dial_digits, to_e164

E164 = re.compile(r"\+[1-9][0-9]{1,14}")


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+14155550123", "US", ("+14155550123",)),  # already E.164 and valid
        ("4155550123", "US", ("+14155550123",)),  # national, in our region
        ("0044 20 7946 0958", "GB", ("+442079460958",)),  # the IDD prefix as delivered
        ("+213012345678", "US", ("+21312345678", "+213012345678")),  # normalised, and as sent
        ("+213512345678", "US", ("+213512345678",)),  # a range phonenumbers does not know
        ("", "US", ()),  # withheld
        ("anonymous", "US", ()),
        ("15550001111", "US", ()),  # not valid, and not in + form: nothing to look for
    ],
)
def test_caller_numbers(raw: str, region: str, expected: tuple[str, ...]) -> None:
    assert caller_numbers(raw, region) == expected


@given(st.text(max_size=40), st.sampled_from(["US", "GB", "DE", "FR"]))
def test_caller_numbers_never_raise_and_give_only_e164(raw: str, region: str) -> None:
    found = caller_numbers(raw, region)
    assert len(set(found)) == len(found) <= 2
    assert all(E164.fullmatch(number) for number in found)


@given(st.from_regex(r"\+[1-9][0-9]{6,13}", fullmatch=True))
def test_a_number_we_dialled_is_found_as_delivered(number: str) -> None:
    assert number in caller_numbers(number, "US")


@given(st.sampled_from(["+14155550123", "+442079460958", "+4930123456", "+33142685300"]))
def test_a_typed_number_and_its_caller_id_meet(number: str) -> None:
    assert to_e164(number, "US") in caller_numbers(number, "US")


def test_dial_digits() -> None:
    assert dial_digits("+14155550123") == "14155550123"
    for bad in ("", "+", "+1&2", "+12/3", "+١٢٣٤"):
        with pytest.raises(ValueError, match="3 to 20 digits"):
            dial_digits(bad)
