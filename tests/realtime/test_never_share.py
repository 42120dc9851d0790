"""Never-share items: kinds in the instructions, values never; a spoken value is caught."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from audio_processing.never_share import kinds, mentioned, values

ITEMS = ("my salary", "SSN 123-45-6789", "ann@example.com", "4111 1111 1111 1111")


ADDRESS = re.compile(r"[\w.+-]+@[\w-]+\.[\w-]+")


def test_kinds_keep_the_words_and_blank_the_values() -> None:
    assert kinds(ITEMS) == ("my salary", "SSN …")


def test_values_are_digits_or_addresses() -> None:
    assert values(ITEMS) == ("123456789", "ann@example.com", "4111111111111111")


def test_a_value_said_in_any_spacing_is_caught() -> None:
    watched = values(ITEMS)
    assert mentioned("Sure, it is 123 45 6789.", watched) == [0]
    assert mentioned("Write to ANN@example.com please", watched) == [1]
    assert mentioned("The card ends in 1111.", watched) == []
    assert mentioned("I cannot share that.", watched) == []


@given(st.lists(st.text(max_size=60), max_size=5))
def test_no_digit_run_of_four_survives_in_a_kind(items: list[str]) -> None:
    for kind in kinds(tuple(items)):
        digits_in_a_row = max((len(run) for run in "".join(
            c if c.isdecimal() else " " for c in kind).split()), default=0)  # fmt: skip
        assert digits_in_a_row < 4
        assert not ADDRESS.search(kind)  # "@." alone is no address: it may stay
