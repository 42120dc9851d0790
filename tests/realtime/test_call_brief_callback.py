"""The one instruction line of a call-back: absent on calls we place."""

from __future__ import annotations

from audio_processing.call_brief import CallBrief, build_instructions

BRIEF = {"objective": "Ask about the bicycle", "on_behalf_of": "Dana", "callee": "Sam"}


def test_a_call_we_place_says_nothing_of_calling_back() -> None:
    assert "calling you back" not in build_instructions(CallBrief(**BRIEF))


def test_a_call_back_says_who_calls_and_what_our_last_call_did() -> None:
    told = build_instructions(CallBrief(**BRIEF, returning_call="Sam asked for Friday"))
    assert "Sam is calling you back" in told
    assert "Last time: Sam asked for Friday." in told
    no_notes = build_instructions(CallBrief(**BRIEF, returning_call=""))
    assert "Sam is calling you back" in no_notes
    assert "Last time" not in no_notes  # nothing learned yet: nothing made up
    assert "Ask about the bicycle" in no_notes  # the task itself is still there
