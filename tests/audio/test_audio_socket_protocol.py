"""The AudioSocket codec: round trips, arbitrary TCP splits, and hostile bytes."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audio_processing.audio_socket_protocol import (
    AUDIO_KINDS,
    HANGUP,
    AudioFrame,
    DtmfFrame,
    ErrorFrame,
    FrameParser,
    HangupFrame,
    Kind,
    ProtocolError,
    UuidFrame,
    encode,
    encode_audio,
    frame_bytes,
    kind_for_rate,
)

audio_frames = st.builds(
    AudioFrame,
    st.sampled_from(sorted(AUDIO_KINDS)),
    st.integers(1, 2000).flatmap(lambda n: st.binary(min_size=2 * n, max_size=2 * n)),
)
frames = st.one_of(
    audio_frames,
    st.just(HangupFrame()),
    st.uuids().map(UuidFrame),
    st.sampled_from("0123456789*#ABCD").map(DtmfFrame),
    st.binary(max_size=4).map(ErrorFrame),
)


@given(frames)
def test_every_frame_round_trips(frame: object) -> None:
    assert FrameParser().feed(encode(frame)) == [frame]  # type: ignore[arg-type]


@given(st.lists(frames, max_size=20), st.data())
def test_any_split_of_a_valid_stream_gives_the_same_frames(
    sent: list[object], data: st.DataObject
) -> None:
    wire = b"".join(encode(f) for f in sent)  # type: ignore[arg-type]
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=30)))
    parser, got = FrameParser(), []
    for start, end in zip([0, *cuts], [*cuts, len(wire)], strict=True):
        got += parser.feed(wire[start:end])
    assert got == sent
    assert parser.buffered == 0


@given(st.binary(max_size=400))
def test_random_bytes_only_ever_raise_protocol_error(data: bytes) -> None:
    parser = FrameParser()
    try:
        parser.feed(data)
    except ProtocolError:
        with pytest.raises(ProtocolError):
            parser.feed(b"")  # the stream stays broken


@pytest.mark.parametrize(
    ("wire", "why"),
    [
        (b"\x02\x00\x00", "unknown message kind 0x02"),
        (b"\x10\x00\x00", "empty"),
        (b"\x10\x00\x03abc", "not sample-aligned"),
        (b"\x00\x00\x01x", "hangup with a 1-byte payload"),
        (b"\x01\x00\x0f" + bytes(15), "expected 16"),
        (b"\x03\x00\x02" + b"12", "expected 1"),
        (b"\x03\x00\x01" + b"x", "not a digit"),
        (b"\x10\xff\xfe", "exceeds the limit"),
    ],
)
def test_bad_frames_are_named(wire: bytes, why: str) -> None:
    with pytest.raises(ProtocolError, match=why):
        FrameParser().feed(wire)


def test_the_error_carries_the_good_frames_before_it_once() -> None:
    call_id = uuid.uuid4()
    parser = FrameParser()
    with pytest.raises(ProtocolError) as caught:
        parser.feed(b"\x01\x00\x10" + call_id.bytes + b"\x7e\x00\x00")
    assert caught.value.frames == [UuidFrame(call_id)]
    with pytest.raises(ProtocolError) as again:
        parser.feed(b"\x00\x00\x00")
    assert again.value.frames == []


def test_a_bad_header_is_rejected_before_its_payload_arrives() -> None:
    with pytest.raises(ProtocolError):
        FrameParser(max_payload=640).feed(b"\x10\x02\x82")  # 642 bytes announced, none sent


def test_partial_frames_are_held_until_complete() -> None:
    parser = FrameParser()
    wire = encode_audio(bytes(320))
    assert parser.feed(wire[:1]) == []
    assert parser.feed(wire[1:200]) == []
    assert parser.buffered == 200
    assert parser.feed(wire[200:] + HANGUP) == [AudioFrame(Kind.SLIN8, bytes(320)), HangupFrame()]


def test_uuid_frame_is_what_asterisk_sends() -> None:
    call_id = uuid.UUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
    wire = b"\x01\x00\x10" + call_id.bytes
    assert FrameParser().feed(wire) == [UuidFrame(call_id)]


def test_slin8_hot_path_header_and_released_kind_mapping() -> None:
    assert encode_audio(b"\x01\x00" * 160)[:3] == b"\x10\x01\x40"
    assert encode_audio(b"\x01\x00" * 480, Kind.SLIN24)[:3] == b"\x13\x03\xc0"
    assert kind_for_rate(16000) == Kind.SLIN16 == 0x12
    assert kind_for_rate(12000) == 0x11
    assert frame_bytes(8000) == 320
    assert frame_bytes(24000) == 960


@pytest.mark.parametrize("pcm", [b"", b"\x00", bytes(65_536)])
def test_encoder_refuses_audio_that_would_break_asterisk(pcm: bytes) -> None:
    with pytest.raises(ValueError, match="empty, odd or too long"):
        encode_audio(pcm)


def test_encoder_refuses_non_audio_kinds() -> None:
    with pytest.raises(ValueError, match="not an audio kind"):
        encode_audio(bytes(4), Kind.DTMF)
