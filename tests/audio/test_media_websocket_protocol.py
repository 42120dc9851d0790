"""The chan_websocket codec over bytes: handshake, frames split anywhere, bad input."""

from __future__ import annotations

import itertools
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.client import ClientProtocol
from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode
from websockets.uri import parse_uri

from audio_processing.audio_socket_protocol import (
    AudioFrame,
    DtmfFrame,
    HangupFrame,
    Kind,
    ProtocolError,
    UuidFrame,
)
from audio_processing.media_websocket_protocol import (
    SUBPROTOCOL,
    MediaWebSocketCodec,
    audio_frame_bytes,
    audio_messages,
    call_id_of,
    parse_notice,
)

CALL = uuid.UUID("7b1d9a4e-4c2f-4d7e-9a51-0c3f5e2b8a10")
START = (
    "MEDIA_START connection_id:abc channel:WebSocket/opendeep-media/0x1"
    " format:slin optimal_frame_size:320 ptime:20"
)


def client(path: str = f"/media?call_id={CALL}") -> tuple[ClientProtocol, bytes]:
    """Asterisk's side: a masking WebSocket client and its upgrade request bytes."""
    proto = ClientProtocol(parse_uri(f"ws://127.0.0.1:1{path}"), subprotocols=[SUBPROTOCOL])
    proto.send_request(proto.connect())
    return proto, b"".join(proto.data_to_send())


def opened(codec: MediaWebSocketCodec) -> ClientProtocol:
    proto, request = client()
    assert codec.feed(request) == [UuidFrame(CALL)]
    proto.receive_data(codec.reply())
    assert proto.handshake_exc is None
    proto.events_received()  # the handshake answer
    return proto


def test_the_upgrade_claims_the_call_and_answers_the_media_subprotocol() -> None:
    codec = MediaWebSocketCodec()
    proto = opened(codec)
    assert proto.subprotocol == "media"


def test_audio_dtmf_notices_and_close_become_frames() -> None:
    codec = MediaWebSocketCodec()
    proto = opened(codec)
    proto.send_text(START.encode())
    proto.send_binary(bytes(range(256)) + bytes(64))
    proto.send_text(b"DTMF_END digit:7")
    proto.send_text(b"MEDIA_XOFF")
    proto.send_close(1000)
    frames = codec.feed(b"".join(proto.data_to_send()))
    assert frames == [
        AudioFrame(Kind.SLIN8, bytes(range(256)) + bytes(64)),
        DtmfFrame("7"),
        HangupFrame(),
    ]
    assert codec.notices == ["MEDIA_XOFF"]


@settings(max_examples=150, deadline=None)
@given(
    payloads=st.lists(
        st.binary(min_size=2, max_size=700).filter(lambda b: len(b) % 2 == 0), max_size=8
    ),
    cuts=st.lists(st.integers(min_value=1, max_value=400), max_size=20),
)
def test_frames_are_the_same_however_the_bytes_are_split(
    payloads: list[bytes], cuts: list[int]
) -> None:
    proto, request = client()
    first = MediaWebSocketCodec()  # answers the handshake so the client may send frames
    first.feed(request)
    proto.receive_data(first.reply())
    for payload in payloads:
        proto.send_binary(payload)
    stream = request + b"".join(proto.data_to_send())
    codec = MediaWebSocketCodec()
    frames, at = [], 0
    for cut in cuts:
        frames += codec.feed(stream[at : at + cut])
        at += cut
    frames += codec.feed(stream[at:])
    assert frames == [UuidFrame(CALL), *(AudioFrame(Kind.SLIN8, p) for p in payloads)]


@settings(max_examples=300, deadline=None)
@given(junk=st.binary(max_size=300))
def test_bad_bytes_after_the_handshake_raise_protocol_error_only(junk: bytes) -> None:
    codec = MediaWebSocketCodec()
    opened(codec)
    try:
        codec.feed(junk)
    except ProtocolError:
        with pytest.raises(ProtocolError):
            codec.feed(b"")  # out of sync for good


def test_a_request_without_a_call_id_gets_400_and_an_error() -> None:
    codec = MediaWebSocketCodec()
    _, request = client("/media")
    with pytest.raises(ProtocolError, match="call_id"):
        codec.feed(request)
    assert codec.reply().startswith(b"HTTP/1.1 400")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("MEDIA_START connection_id:a format:ulaw optimal_frame_size:160", "format"),
        ("DTMF_END digit:x", "digit"),
    ],
)
def test_notices_that_cannot_be_ours_end_the_call(text: str, error: str) -> None:
    codec = MediaWebSocketCodec()
    proto = opened(codec)
    proto.send_text(text.encode())
    with pytest.raises(ProtocolError, match=error):
        codec.feed(b"".join(proto.data_to_send()))


def test_odd_audio_is_a_protocol_error() -> None:
    codec = MediaWebSocketCodec()
    proto = opened(codec)
    proto.send_binary(b"\x01\x02\x03")
    with pytest.raises(ProtocolError, match="odd"):
        codec.feed(b"".join(proto.data_to_send()))


def test_fragmented_messages_are_joined() -> None:
    codec = MediaWebSocketCodec()
    proto = opened(codec)
    proto.send_frame(WsFrame(Opcode.BINARY, bytes(160), fin=False))
    proto.send_frame(WsFrame(Opcode.CONT, bytes(160), fin=True))
    assert codec.feed(b"".join(proto.data_to_send())) == [AudioFrame(Kind.SLIN8, bytes(320))]


def test_what_we_send_is_binary_audio_then_text_commands_and_a_close() -> None:
    codec = MediaWebSocketCodec()
    proto = opened(codec)
    proto.receive_data(codec.audio(bytes(640)) + codec.command("FLUSH_MEDIA") + codec.hangup())
    events = proto.events_received()
    assert [(e.opcode, bytes(e.data)) for e in events] == [
        (Opcode.BINARY, bytes(640)),
        (Opcode.TEXT, b"FLUSH_MEDIA"),
        (Opcode.TEXT, b"HANGUP"),
        (Opcode.CLOSE, events[-1].data),
    ]
    with pytest.raises(ConnectionResetError):
        codec.audio(bytes(320))  # after the close nothing more goes out
    assert codec.hangup() == b""


def test_notice_and_query_parsing() -> None:
    assert parse_notice("STATUS queue_length:43 queue_full:false") == (
        "STATUS",
        {"queue_length": "43", "queue_full": "false"},
    )
    assert call_id_of(f"/media?x=1&call_id={CALL}") == CALL
    with pytest.raises(ProtocolError, match="UUID"):
        call_id_of("/media?call_id=nope")


@settings(max_examples=200, deadline=None)
@given(payload=st.binary(max_size=400), fragmented=st.booleans())
def test_the_fast_path_and_the_parser_agree(payload: bytes, fragmented: bool) -> None:
    """One whole masked frame per read (Asterisk's 20 ms frames) skips the parser: the
    frames must be the same as the parser's, and anything else must go to the parser."""
    fast, slow = MediaWebSocketCodec(), MediaWebSocketCodec()
    proto = opened(fast)
    opened(slow)
    if fragmented and payload:
        proto.send_frame(WsFrame(Opcode.BINARY, payload[:1], fin=False))
        proto.send_frame(WsFrame(Opcode.CONT, payload[1:], fin=True))
    else:
        proto.send_binary(payload)
    wire = b"".join(proto.data_to_send())
    if not fragmented and payload and len(payload) % 2 == 0:
        assert audio_messages(wire) == [payload]
    else:
        assert audio_messages(wire) is None
    outcomes = []
    for codec, chunks in ((fast, [wire]), (slow, [wire[:1], wire[1:]])):  # slow: split reads
        try:
            outcomes.append([f for chunk in chunks for f in codec.feed(chunk)])
        except ProtocolError as exc:
            outcomes.append(str(exc))
    assert outcomes[0] == outcomes[1]


@settings(max_examples=200, deadline=None)
@given(
    payloads=st.lists(st.binary(min_size=0, max_size=700), min_size=1, max_size=6),
    text_at=st.none() | st.integers(min_value=0, max_value=5),
    cut=st.integers(min_value=0, max_value=20),
)
def test_a_batched_read_of_many_messages_gives_the_parsers_frames(
    payloads: list[bytes], text_at: int | None, cut: int
) -> None:
    """A batched read holds several messages: all whole audio ones skip the parser, and
    anything else (a text message among them, an odd or empty payload, a frame cut short
    by the read) goes to the parser; the frames are the same either way."""
    fast, slow = MediaWebSocketCodec(), MediaWebSocketCodec()
    proto = opened(fast)
    opened(slow)
    messages: list[bytes] = []  # each message as it goes on the wire
    audio: list[bytes | None] = []  # its payload if it may take the fast path, else None
    for i, payload in enumerate(payloads):
        if text_at == i:
            proto.send_text(b"DTMF_END digit:5")
            messages.append(b"".join(proto.data_to_send()))
            audio.append(None)
        proto.send_binary(payload)
        messages.append(b"".join(proto.data_to_send()))
        audio.append(payload if payload and len(payload) % 2 == 0 else None)
    wire = b"".join(messages)
    read, rest = wire[: len(wire) - cut], wire[len(wire) - cut :]
    ends = list(itertools.accumulate(len(m) for m in messages))
    whole = audio[: ends.index(len(read)) + 1] if len(read) in ends else [None]
    expected = None if None in whole else whole
    assert audio_messages(read) == expected
    outcomes = []
    for codec, chunks in ((fast, [read, rest]), (slow, [bytes([b]) for b in wire])):
        try:
            outcomes.append([f for chunk in chunks for f in codec.feed(chunk)])
        except ProtocolError as exc:
            outcomes.append(str(exc))
    assert outcomes[0] == outcomes[1]


def test_the_size_of_a_20_ms_frame_is_what_asterisk_sends() -> None:
    proto = opened(MediaWebSocketCodec())
    for rate in (8000, 16000):
        proto.send_binary(bytes(rate // 50 * 2))
        assert len(b"".join(proto.data_to_send())) == audio_frame_bytes(rate // 50 * 2)
        assert MediaWebSocketCodec().frame_bytes(rate) == audio_frame_bytes(rate // 50 * 2)
    proto.send_binary(bytes(100))
    assert len(b"".join(proto.data_to_send())) == audio_frame_bytes(100)


def test_a_frame_split_across_reads_is_never_taken_by_the_fast_path() -> None:
    codec = MediaWebSocketCodec()
    proto = opened(codec)
    proto.send_binary(bytes(320))
    proto.send_binary(bytes(range(200)) * 1 + bytes(120))
    wire = b"".join(proto.data_to_send())
    first, second = wire[:100], wire[100:]  # the second read starts mid-frame
    assert codec.feed(first) == []
    assert codec.feed(second) == [
        AudioFrame(Kind.SLIN8, bytes(320)),
        AudioFrame(Kind.SLIN8, bytes(range(200)) + bytes(120)),
    ]


def test_a_payload_that_looks_like_a_frame_is_never_taken_for_one() -> None:
    """The parser drops a frame's header from its buffer before the payload comes; a
    payload read on its own that happens to read as a whole masked frame is still the
    payload."""
    codec = MediaWebSocketCodec()
    opened(codec)
    inner = bytes([0x82, 0x82]) + b"\x01\x02\x03\x04" + b"\x10\x20"  # a whole 2-byte frame
    mask = b"\x5a\x5a\x5a\x5a"
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(inner))  # masked: `inner` on the wire
    header = bytes([0x82, 0x80 | len(payload)]) + mask
    assert codec.feed(header) == []
    assert codec.feed(inner) == [AudioFrame(Kind.SLIN8, payload)]
