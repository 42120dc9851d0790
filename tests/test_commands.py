"""The command codec: every valid command round-trips; anything else is BadCommand, nothing else."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.commands import (
    BadCommand,
    FeedbackAnswer,
    Hangup,
    SendDtmf,
    Transfer,
    decode_command,
    encode_command,
)

DTMF_ALPHABET = "0123456789*#ABCDw"
visible_text = st.text(
    st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=60
).filter(lambda s: s.strip() != "")

commands = st.one_of(
    st.builds(SendDtmf, digits=st.text(DTMF_ALPHABET, min_size=1, max_size=32)),
    st.builds(Hangup, reason=st.text(min_size=1, max_size=200)),
    st.builds(Transfer, target=visible_text),
    st.builds(
        FeedbackAnswer,
        request_id=st.integers(-(2**63), 2**63 - 1),
        answer=st.text(max_size=200),
    ),
)


@given(commands)
def test_every_command_round_trips(command: object) -> None:
    data = encode_command(command)  # type: ignore[arg-type]
    assert decode_command(data) == command
    assert decode_command(data.decode()) == command


@given(st.binary(max_size=300))
def test_random_bytes_only_ever_raise_bad_command(data: bytes) -> None:
    with contextlib.suppress(BadCommand):
        decode_command(data)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=12,
)


@given(
    st.dictionaries(
        st.sampled_from(["type", "digits", "reason", "target", "request_id", "answer", "x"]),
        json_values | st.sampled_from(["send_dtmf", "hangup", "transfer", "feedback_answer"]),
    )
)
def test_random_json_objects_decode_or_raise_bad_command(payload: dict[str, object]) -> None:
    try:
        command = decode_command(json.dumps(payload))
    except BadCommand:
        return
    assert command.type == payload["type"]


def test_hangup_reason_defaults_to_requested() -> None:
    assert decode_command(b'{"type": "hangup"}') == Hangup(reason="requested")


@pytest.mark.parametrize("digits", ["", "1" * 33, "12a", "1 2", "x", "W", "5\n"])
def test_invalid_dtmf_is_rejected(digits: str) -> None:
    with pytest.raises(BadCommand, match="digits"):
        decode_command(json.dumps({"type": "send_dtmf", "digits": digits}))


@pytest.mark.parametrize("target", ["", "   ", "100\r\nAction: Originate", "a\x00b"])
def test_transfer_target_must_be_visible_and_single_line(target: str) -> None:
    with pytest.raises(BadCommand, match="target"):
        decode_command(json.dumps({"type": "transfer", "target": target}))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b"\xff\xfe\x00",
        b"[]",
        b"42",
        b'{"digits": "1"}',
        b'{"type": "self_destruct"}',
        b'{"type": "send_dtmf", "digits": "1", "extra": true}',
        b'{"type": "feedback_answer", "request_id": "7", "answer": "yes"}',
        b'{"type": "feedback_answer", "request_id": true, "answer": "yes"}',
        b"[" * 10_000,
    ],
)
def test_malformed_input_raises_bad_command(data: bytes) -> None:
    with pytest.raises(BadCommand):
        decode_command(data)


def test_bad_command_message_never_echoes_the_input() -> None:
    with pytest.raises(BadCommand) as caught:
        decode_command(b'{"type": "send_dtmf", "digits": "5551234567x"}')
    assert "555" not in str(caught.value)
    assert "digits" in str(caught.value)
