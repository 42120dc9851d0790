"""The live events (common/events.py) and the page script that renders them agree.

`static/app.js` is the only consumer of the events; it reads `ev.<field>` and switches on
`ev.type`. A field it reads that no event carries, or a type it waits for that nobody
publishes, is a page that silently shows nothing: this test reads the script and fails.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from common.events import (
    LIVE_EVENT_TYPES,
    FeedbackRequested,
    QuestionsPending,
    TurnAdded,
    decode_event,
)

APP_JS = Path(__file__).resolve().parents[2] / "web_interface" / "static" / "app.js"
TYPES = {model.model_fields["type"].default: model for model in LIVE_EVENT_TYPES}


@pytest.fixture(scope="module")
def script() -> str:
    return APP_JS.read_text(encoding="utf-8")


def test_every_type_the_page_waits_for_is_published(script: str) -> None:
    named = set(re.findall(r'ev\.type === "(\w+)"', script))
    for listed in re.findall(r"\[([^\]]*)\]\.includes\(ev\.type\)", script):
        named |= set(re.findall(r'"(\w+)"', listed))
    assert named, "app.js names no event type: the pattern above no longer matches it"
    assert named <= set(TYPES), f"app.js waits for types nobody publishes: {named - set(TYPES)}"


def test_every_field_the_page_reads_is_carried_by_an_event(script: str) -> None:
    read = set(re.findall(r"\bev\.(\w+)", script)) - {"type"}
    carried = {name for model in LIVE_EVENT_TYPES for name in model.model_fields}
    assert read, "app.js reads no event field: the pattern above no longer matches it"
    assert read <= carried, f"app.js reads fields no event has: {read - carried}"


def test_questions_render_from_the_live_event_and_the_pending_list_alike(script: str) -> None:
    """showQuestion(q) is fed by live feedback_request events and by the questions of the
    socket's first message (questions_pending): both are FeedbackRequested."""
    read = set(re.findall(r"\bq\.(\w+)", script))
    assert {"request_id", "question", "call_id", "expires_at"} <= read
    assert read <= set(FeedbackRequested.model_fields)
    assert QuestionsPending.model_fields["questions"].annotation == list[FeedbackRequested]


def test_a_turn_on_the_wire_is_what_the_page_reads() -> None:
    wire = TurnAdded(call_id="c1", seq=3, speaker="agent", text="Hello").model_dump_json()
    assert decode_event(wire) == TurnAdded(call_id="c1", seq=3, speaker="agent", text="Hello")


@pytest.mark.parametrize(
    "wire",
    [
        b'{"type": "turn", "call_id": "c1", "seq": 1, "speaker": "robot", "text": "x"}',
        b'{"type": "self_destruct"}',
        b'{"type": "notification", "kind": "k", "subject": "s", "extra": 1}',
        b"[1, 2]",
        b"\xff",
    ],
)
def test_anything_else_is_refused_without_echoing_it(wire: bytes) -> None:
    with pytest.raises(ValueError, match="invalid live event") as refused:
        decode_event(wire)
    assert "robot" not in str(refused.value)
