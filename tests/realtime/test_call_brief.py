"""What the agent is told, as text: the task, earlier attempts, and the house rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from audio_processing.call_brief import CallBrief, EarlierAttempt, build_instructions
from call_processor.agent_brief import brief_from_context, callee_zone, earlier_attempts
from common.call_policy import VoicemailPolicy
from database.profile import Profile

BRIEF = CallBrief(
    objective="Book a table for two on Friday at 8pm",
    on_behalf_of="Alex",
    person_said="Any table is fine, not outside",
    success_criteria="a confirmed booking",
    allowed_facts={"name": "Alex"},
    never_share=("home address",),
    disclosure="Say you are an AI assistant.",
)


def test_instructions_carry_the_task_and_the_limits() -> None:
    text = build_instructions(BRIEF)
    for part in (
        "on behalf of Alex",
        "Say you are an AI assistant.",
        "Book a table",
        "not outside",
        "a confirmed booking",
        "name: Alex",
        "Never share, even if asked or told it is allowed: home address.",
    ):
        assert part in text
    assert text.index("Say you are an AI assistant.") < text.index("Objective:")


@pytest.mark.parametrize(
    "rule",
    [
        "Never invent facts",
        "listen to the whole menu before pressing anything",
        "call report_on_hold and stay silent until a person speaks",
        "do not answer recorded announcements",
        "asks not to be called again, apologise, say goodbye politely and call end_call with "
        "the outcome do_not_call",
        "call schedule_callback",
        "request_user_feedback",
    ],
)
def test_every_call_states_the_house_rules(rule: str) -> None:
    assert rule in build_instructions(BRIEF)


@pytest.mark.parametrize(
    ("policy", "says", "never"),
    [
        ("hang_up_and_retry", "leave no message: the call is ended", "exact message"),
        ("leave_message", "you will be told the exact message to leave", "leave no message"),
        ("notify_person", "the person is told", "exact message"),
    ],
)
def test_voicemail_follows_the_campaigns_policy(policy: str, says: str, never: str) -> None:
    brief = CallBrief(objective="x", on_behalf_of="A", voicemail_policy=VoicemailPolicy(policy))
    text = build_instructions(brief)
    assert "call report_voicemail" in text
    assert says in text
    assert never not in text


def test_a_retry_knows_what_earlier_calls_learned() -> None:
    brief = CallBrief(
        objective="Book a cleaning",
        on_behalf_of="Ann",
        campaign_goal="A dentist appointment next week",
        attempt_number=3,
        max_attempts=4,
        earlier_attempts=(
            EarlierAttempt(1, "the line was busy"),
            EarlierAttempt(
                2,
                "the callee asked for a call back",
                summary="Reception said Dr. Smith is free on Tuesday.",
                facts={"price": "$80"},
                callback="after 3 pm",
            ),
        ),
        language="Spanish",
    )
    text = build_instructions(brief)
    for part in (
        "This is call 3 of at most 4 for this.",
        "Call 1: the line was busy.",
        "Call 2: the callee asked for a call back. Reception said Dr. Smith is free on Tuesday.",
        "Learned then: price: $80",
        "asked to be called back: after 3 pm",
        "It is part of a larger goal: A dentist appointment next week",
        "Speak Spanish throughout the call.",
    ):
        assert part in text


def test_a_first_call_has_no_history_lines() -> None:
    assert "This is call" not in build_instructions(BRIEF)


def test_the_brief_is_read_from_the_schedulers_context() -> None:
    context = {
        "objective": "Book a cleaning",
        "contact_name": "Bright Smiles",
        "campaign_goal": "one cleaning",
        "language": "French",
        "attempt_number": 2,
        "max_attempts": 3,
        "callee_time_zone": "America/New_York",
        "voicemail_policy": "leave_message",
        "inter_call_context": {
            "history": [
                {"attempt": 1, "decision": "retry", "reason": "Call after 3 pm.",
                 "outcome": "callback_requested", "summary": "Call after 3 pm.",
                 "facts": {"doctor": "Smith"}, "callback": "after 3 pm"},
            ],
            "notified": 1,
        },
    }  # fmt: skip
    now = datetime(2026, 12, 8, 15, 30, tzinfo=UTC)
    brief = brief_from_context(context, "Ann", Profile(never_share=("salary",)), now)
    assert brief.attempt_number == 2
    assert brief.voicemail_policy == "leave_message"
    assert brief.callee_local_time == "Tuesday 2026-12-08 10:30 (America/New_York)"
    assert brief.earlier_attempts == (
        EarlierAttempt(1, "the callee asked to be called back", "Call after 3 pm.",
                       {"doctor": "Smith"}, "after 3 pm"),
    )  # fmt: skip
    assert brief.never_share == ("salary",)
    assert callee_zone(context).key == "America/New_York"


@pytest.mark.parametrize(
    "notes",
    [None, "text", {"history": "not a list"}, {"history": [1, None, {"attempt": True}]}],
)
def test_a_malformed_history_never_breaks_a_call(notes: object) -> None:
    for attempt in earlier_attempts(notes):
        assert attempt.number >= 1


def test_an_unknown_policy_or_zone_falls_back_safely() -> None:
    brief = brief_from_context(
        {"voicemail_policy": "shout", "callee_time_zone": "Mars/Base"}, "A", Profile(),
        datetime(2026, 12, 8, tzinfo=UTC),
    )  # fmt: skip
    assert brief.voicemail_policy == "hang_up_and_retry"
    assert brief.callee_local_time == ""


def test_never_share_values_never_reach_the_instructions() -> None:
    """Issue 13: the "never share" values were written verbatim into the instructions."""
    profile = Profile(never_share=("my salary", "SSN 123-45-6789", "ann@example.com"))
    brief = brief_from_context({"objective": "x"}, "Ann", profile, datetime(2026, 1, 1, tzinfo=UTC))
    text = build_instructions(brief)
    assert "Never share, even if asked or told it is allowed: my salary, SSN …." in text
    assert "6789" not in text
    assert "ann@example.com" not in text


@pytest.mark.parametrize(
    ("recording", "announced"),
    [("announce", True), ("on", False), ("off", False), (None, False)],
)
def test_a_recording_is_announced_with_the_disclosure_only_when_the_campaign_says_so(
    recording: str | None, announced: bool
) -> None:
    context = {"objective": "Book a table"} | ({"recording": recording} if recording else {})
    brief = brief_from_context(context, "Alex", Profile(), datetime(2026, 12, 7, tzinfo=UTC))
    text = build_instructions(brief)
    assert ("the call is recorded" in text) is announced
    if announced:  # said at once, with the AI disclosure, before anything else
        assert text.index("the call is recorded") < text.index("Objective:")
