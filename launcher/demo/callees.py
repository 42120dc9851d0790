"""The demo callees: who answers each demo number, what they say, and what the agent says
back. Pure data, read by both sides of a demo call.

Why one table for both sides: the simulated line speaks the callee's lines and the
scripted call agent answers them, so each exchange is written once, in order. The agent
never reads the callee's lines directly: it learns them the way the real model does, one
input transcription per burst of callee speech it hears (realtime_session.py).

The numbers are in Ofcom's range for drama (020 7946 0xxx): valid, so the product's
number check accepts them, and never anyone's real phone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CalleeLine:
    """One thing the callee says, then what it waits for before its next line: `waits`
    agent utterances (0: it goes on after a short pause), or the key `digit` (an IVR)."""

    text: str
    waits: int = 1
    digit: str = ""
    beep_after: bool = False  # an answering machine's tone follows the greeting


@dataclass(frozen=True)
class AgentLine:
    """What the scripted agent does on hearing a line: say `say` (may be empty), then call
    `tool` with `args`. `{person}` and `{answer}` are filled in when the call runs."""

    say: str = ""
    tool: str = ""
    args: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Exchange:
    callee: CalleeLine
    agent: AgentLine


@dataclass(frozen=True)
class DemoCallee:
    key: str
    name: str  # as the planning assistant puts it in the plan (the agent's brief names it)
    number: str  # E.164
    what: str  # what this callee shows, for the README and the plan's context
    key_words: str  # how the agent's brief names it (see by_instructions)
    exchanges: tuple[Exchange, ...]
    after_answer: AgentLine | None = None  # once the person answered the agent's question
    no_answer: AgentLine | None = None  # the person did not answer in time


NOTHING = AgentLine()
DRAMA_RANGE = "+44207946"  # Ofcom's numbers for drama: 020 7946 0000 to 0999


def _dental_office(
    office: str,
    line: str,
    *,
    key: str,
    what: str,
    exchanges: tuple[Exchange, ...],
    after_answer: AgentLine | None = None,
    no_answer: AgentLine | None = None,
) -> DemoCallee:
    """A demo dentist, "<office> Dental (demo)" at `line` of the drama range: the agent
    knows it by `office` alone, so its name always holds the words it is found by."""
    return DemoCallee(
        key=key,
        name=f"{office} Dental (demo)",
        number=DRAMA_RANGE + line,
        what=what,
        key_words=office,
        exchanges=exchanges,
        after_answer=after_answer,
        no_answer=no_answer,
    )


def _end_call(say: str, outcome: str, summary: str) -> AgentLine:
    """The agent says `say`, then ends the call with this outcome and summary."""
    return AgentLine(say, tool="end_call", args={"outcome": outcome, "summary": summary})


QUESTION = (
    "Bright Smile Dental can do Tuesday at 9 am or Thursday at 4 pm for the cleaning. "
    "Which do you prefer?"
)

BRIGHT_SMILE = _dental_office(
    "Bright Smile",
    "0101",
    key="ivr",
    what="a phone menu (press 1), then a receptionist with a question only you can answer",
    exchanges=(
        Exchange(
            CalleeLine(
                "Thank you for calling Bright Smile Dental. For appointments, press 1. "
                "For billing, press 2.",
                digit="1",
            ),
            AgentLine(tool="send_dtmf", args={"digits": "1"}),
        ),
        Exchange(CalleeLine("Please hold while we connect you.", waits=0), NOTHING),
        Exchange(
            CalleeLine("Bright Smile front desk, this is Sam."),
            AgentLine(
                "Hi Sam, I'm an AI assistant calling on behalf of {person}. "
                "I'd like to book a dental cleaning for them."
            ),
        ),
        Exchange(
            CalleeLine(
                "Sure. I have Tuesday at 9 am or Thursday at 4 pm. Which would they prefer?",
                waits=2,
            ),
            AgentLine(
                "Let me check with them, one moment please.",
                tool="request_user_feedback",
                args={"question": QUESTION},
            ),
        ),
        Exchange(
            CalleeLine("Perfect, I've put that down. We'll see them then!"),
            _end_call(
                "Thank you so much, goodbye.",
                "success",
                "Booked a cleaning at Bright Smile Dental; {person} chose: {answer}",
            ),
        ),
    ),
    after_answer=AgentLine("Thanks for waiting. They say: {answer}"),
    no_answer=_end_call(
        "I'm sorry, I couldn't reach them. We'll call back. Goodbye.",
        "needs_user",
        "The person did not answer in time.",
    ),
)

HARBOR = _dental_office(
    "Harbor",
    "0102",
    key="receptionist",
    what="a receptionist who books",
    exchanges=(
        Exchange(
            CalleeLine("Harbor Dental, Maya speaking. How can I help?"),
            AgentLine(
                "Hello Maya, I'm an AI assistant calling on behalf of {person}. "
                "Could I book a dental cleaning for them next week?"
            ),
        ),
        Exchange(
            CalleeLine("Of course. I can do Wednesday at 10 am. Shall I put them down?"),
            AgentLine(
                "Yes please, Wednesday at 10 am is great.",
                tool="record_fact",
                args={"key": "appointment", "value": "Wednesday 10:00, Harbor Dental"},
            ),
        ),
        Exchange(
            CalleeLine("Done: Wednesday at 10 with Doctor Patel. Anything else?"),
            _end_call(
                "No, that's all. Thank you, goodbye!",
                "success",
                "Booked a cleaning at Harbor Dental on Wednesday at 10 am with Dr. Patel.",
            ),
        ),
    ),
)

OAK_STREET = _dental_office(
    "Oak Street",
    "0103",
    key="voicemail",
    what="an answering machine (the agent leaves a message after the beep)",
    exchanges=(
        Exchange(
            CalleeLine(
                "Hi, you've reached Oak Street Dental. We're closed right now. "
                "Please leave your name and number after the tone.",
                beep_after=True,
            ),
            AgentLine(tool="report_voicemail"),
        ),
    ),
)

ANYONE = DemoCallee(
    key="anyone",
    name="Demo line",
    number="",
    key_words="",
    what="any other number: someone who says this is only a demo line",
    exchanges=(
        Exchange(
            CalleeLine("Hello?"),
            AgentLine("Hello, I'm an AI assistant calling on behalf of {person}."),
        ),
        Exchange(
            CalleeLine("Sorry, this is only a demo line; nobody real is here. Goodbye!"),
            _end_call("Understood, goodbye.", "wrong_number", "Only a demo line answered."),
        ),
    ),
)

DENTISTS = (BRIGHT_SMILE, HARBOR, OAK_STREET)
CALLEES = (*DENTISTS, ANYONE)


def by_number(number: str) -> DemoCallee:
    """Who answers `number` (E.164 or its digits) on the simulated line."""
    digits = number.lstrip("+")
    for callee in DENTISTS:
        if callee.number.lstrip("+") == digits:
            return callee
    return ANYONE


def by_instructions(instructions: str) -> DemoCallee:
    """Whom a call's agent is talking to, from its brief ("You are calling: <name>."): by
    the office's own words ("Harbor"), so a plan edited to "Harbor dentist" still matches.
    The Realtime protocol carries no phone number, so the brief is all the agent has."""
    text = instructions.lower()
    for callee in DENTISTS:
        if callee.key_words.lower() in text:
            return callee
    return ANYONE
