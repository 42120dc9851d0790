"""The profile column: a typed Profile in Python, tolerant of whatever rows hold."""

from __future__ import annotations

from datetime import UTC, datetime, time

from database.profile import PreferredWindow, Profile


def test_unknown_keys_are_dropped_and_known_ones_typed() -> None:
    stored = {
        "facts": {"insurer": "Acme"},
        "never_share": ["salary"],
        "calling_window": {"start": "10:00", "days": "mon,tue"},
        "notifications_seen_at": "2026-12-01T10:00:00+00:00",
        "standing_facts": ["old"],
    }
    profile = Profile.from_stored(stored)
    assert profile.facts == {"insurer": "Acme"}
    assert profile.never_share == ("salary",)
    assert profile.calling_window == PreferredWindow(start=time(10), days="mon,tue")
    assert profile.notifications_seen_at == datetime(2026, 12, 1, 10, tzinfo=UTC)


def test_a_malformed_field_falls_back_and_the_rest_is_kept() -> None:
    profile = Profile.from_stored({"facts": "not a dict", "never_share": ["salary"]})
    assert profile == Profile(never_share=("salary",))


def test_anything_but_an_object_is_the_empty_profile() -> None:
    assert Profile.from_stored(None) == Profile()
    assert Profile.from_stored(["facts"]) == Profile()


def test_stored_form_round_trips_and_leaves_defaults_out() -> None:
    profile = Profile(facts={"a": "b"}, calling_window=PreferredWindow(end=time(17, 30)))
    assert profile.stored() == {"facts": {"a": "b"}, "calling_window": {"end": "17:30:00"}}
    assert Profile.from_stored(profile.stored()) == profile
