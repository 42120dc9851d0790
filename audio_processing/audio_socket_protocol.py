"""AudioSocket wire protocol: typed frames, an incremental parser and encoders. No I/O.

Why a pure codec: TCP delivers AudioSocket frames split and coalesced at random, and
Asterisk is strict about what it receives (anything but audio or hangup ends the call,
a zero-length audio frame too). Keeping the byte rules here lets them be tested
exhaustively and leaves the asyncio shell only moving bytes.

Wire format (docs/protocols.md, AudioSocket): kind (1 byte) + payload length (u16
big-endian) + payload. Audio samples are signed 16-bit little-endian.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

HEADER_SIZE: Final = 3
MAX_WIRE_PAYLOAD: Final = 0xFFFF
# slin192 at 60 ms ptime is 23 040 bytes; anything far above that is not audio from Asterisk.
DEFAULT_MAX_PAYLOAD: Final = 32_768
DTMF_DIGITS: Final = frozenset("0123456789*#ABCDabcd")


class Kind(IntEnum):
    """Message kinds with the RELEASED byte codes (0x11 is slin12, not slin16)."""

    HANGUP = 0x00
    UUID = 0x01
    DTMF = 0x03
    SLIN8 = 0x10
    SLIN12 = 0x11
    SLIN16 = 0x12
    SLIN24 = 0x13
    SLIN32 = 0x14
    SLIN44 = 0x15
    SLIN48 = 0x16
    SLIN96 = 0x17
    SLIN192 = 0x18
    ERROR = 0xFF


SAMPLE_RATES: Final[dict[Kind, int]] = {
    Kind.SLIN8: 8000,
    Kind.SLIN12: 12000,
    Kind.SLIN16: 16000,
    Kind.SLIN24: 24000,
    Kind.SLIN32: 32000,
    Kind.SLIN44: 44100,
    Kind.SLIN48: 48000,
    Kind.SLIN96: 96000,
    Kind.SLIN192: 192000,
}
AUDIO_KINDS: Final = frozenset(SAMPLE_RATES)
_KIND_BY_RATE: Final = {rate: kind for kind, rate in SAMPLE_RATES.items()}
_KNOWN: Final = frozenset(int(k) for k in Kind)
_AUDIO_BY_BYTE: Final[dict[int, Kind]] = {int(k): k for k in AUDIO_KINDS}  # no Enum call per frame


class ProtocolError(Exception):
    """The peer sent bytes that are not valid AudioSocket; the connection cannot continue.

    `frames` holds the valid frames that came before the bad bytes in the same feed, so
    a UUID coalesced with garbage still identifies the call that went wrong.
    """

    def __init__(self, message: str, frames: list[Frame] | None = None) -> None:
        super().__init__(message)
        self.frames: list[Frame] = frames or []


@dataclass(frozen=True, slots=True)
class HangupFrame:
    pass


@dataclass(frozen=True, slots=True)
class UuidFrame:
    call_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class DtmfFrame:
    digit: str


@dataclass(frozen=True, slots=True)
class AudioFrame:
    kind: Kind
    pcm: bytes

    @property
    def sample_rate(self) -> int:
        return SAMPLE_RATES[self.kind]


@dataclass(frozen=True, slots=True)
class ErrorFrame:
    """0xFF: defined by the protocol, never sent by current Asterisk; payload is opaque."""

    code: bytes


Frame = HangupFrame | UuidFrame | DtmfFrame | AudioFrame | ErrorFrame


def kind_for_rate(sample_rate: int) -> Kind:
    try:
        return _KIND_BY_RATE[sample_rate]
    except KeyError:
        raise ValueError(f"AudioSocket has no slin kind for {sample_rate} Hz") from None


def frame_bytes(sample_rate: int, ms: int = 20) -> int:
    """Bytes of mono 16-bit audio in `ms` milliseconds (320 for 20 ms of slin8)."""
    return sample_rate * ms // 1000 * 2


def _check_length(kind: int, length: int, max_payload: int) -> None:
    """Reject a header before its payload arrives, so a bogus length cannot make us wait."""
    if kind not in _KNOWN:
        raise ProtocolError(f"unknown message kind 0x{kind:02x}")
    if length > max_payload:
        raise ProtocolError(f"payload of {length} bytes exceeds the limit of {max_payload}")
    if kind == Kind.HANGUP and length != 0:
        raise ProtocolError(f"hangup with a {length}-byte payload")
    if kind == Kind.UUID and length != 16:
        raise ProtocolError(f"UUID payload of {length} bytes, expected 16")
    if kind == Kind.DTMF and length != 1:
        raise ProtocolError(f"DTMF payload of {length} bytes, expected 1")
    if kind in AUDIO_KINDS and (length == 0 or length % 2):
        raise ProtocolError(f"audio payload of {length} bytes is empty or not sample-aligned")


def _build(kind: int, payload: bytes) -> Frame:
    if audio := _AUDIO_BY_BYTE.get(kind):
        return AudioFrame(audio, payload)
    if kind == Kind.HANGUP:
        return HangupFrame()
    if kind == Kind.UUID:
        return UuidFrame(uuid.UUID(bytes=payload))
    if kind == Kind.DTMF:
        digit = chr(payload[0])
        if digit not in DTMF_DIGITS:
            raise ProtocolError(f"DTMF byte 0x{payload[0]:02x} is not a digit")
        return DtmfFrame(digit)
    return ErrorFrame(payload)


def _one_audio_frame(data: bytes, max_payload: int) -> AudioFrame | None:
    """`data` as one valid audio frame, or None to take the general path.

    Why: Asterisk writes each 20 ms frame with one write, so a read usually returns
    exactly one frame; parsing it straight from `data` skips the buffer's copies.
    """
    kind = _AUDIO_BY_BYTE.get(data[0]) if len(data) > HEADER_SIZE else None
    if kind is None:
        return None
    length = (data[1] << 8) | data[2]
    if length != len(data) - HEADER_SIZE or length % 2 or length > max_payload:
        return None
    return AudioFrame(kind, data[HEADER_SIZE:])


class FrameParser:
    """Incremental parser: feed whatever TCP delivered, get the complete frames back.

    After a ProtocolError the stream is out of sync for good; every later feed raises too.
    """

    def __init__(self, max_payload: int = DEFAULT_MAX_PAYLOAD) -> None:
        if not 0 < max_payload <= MAX_WIRE_PAYLOAD:
            raise ValueError("max_payload must be within 1..65535")
        self.max_payload = max_payload
        self._buffer = bytearray()
        self._error: ProtocolError | None = None

    @property
    def buffered(self) -> int:
        """Bytes held of an incomplete frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Frame]:
        if self._error is not None:
            raise self._error
        if not self._buffer and (frame := _one_audio_frame(data, self.max_payload)):
            return [frame]  # the hot path: exactly one whole audio frame, nothing held
        self._buffer += data
        try:
            return self._drain()
        except ProtocolError as exc:
            self._error = ProtocolError(str(exc))  # later feeds: same error, no stale frames
            raise

    def _drain(self) -> list[Frame]:
        buf, frames, pos = self._buffer, [], 0
        try:
            while len(buf) - pos >= HEADER_SIZE:
                kind, length = buf[pos], (buf[pos + 1] << 8) | buf[pos + 2]
                _check_length(kind, length, self.max_payload)
                end = pos + HEADER_SIZE + length
                if end > len(buf):
                    break
                frames.append(_build(kind, bytes(buf[pos + HEADER_SIZE : end])))
                pos = end
        except ProtocolError as exc:
            raise ProtocolError(str(exc), frames) from None
        del buf[:pos]
        return frames


HANGUP: Final = b"\x00\x00\x00"
_HEADER: Final = struct.Struct(">BH")
# The hot path: one 20 ms slin8 frame every 20 ms per call. Its header never changes.
_SLIN8_20MS_HEADER: Final = _HEADER.pack(Kind.SLIN8, 320)


def encode_audio(pcm: bytes, kind: Kind = Kind.SLIN8) -> bytes:
    """Header + samples as one bytes object, so the caller can send it with ONE write."""
    length = len(pcm)
    if kind == Kind.SLIN8 and length == 320:
        return _SLIN8_20MS_HEADER + pcm
    if kind not in AUDIO_KINDS:
        raise ValueError(f"{kind!r} is not an audio kind")
    if length == 0 or length % 2 or length > MAX_WIRE_PAYLOAD:
        raise ValueError(f"audio of {length} bytes is empty, odd or too long (fatal to Asterisk)")
    return _HEADER.pack(kind, length) + pcm


class AudioSocketCodec:
    """The AudioSocket wire as the media server sees one connection (the same shape as
    media_websocket_protocol.MediaWebSocketCodec): frames in, audio and hangup out."""

    ahead = False  # we own the playout clock: one frame per 20 ms, paced by us

    def __init__(self, kind: Kind = Kind.SLIN8) -> None:
        self.kind = kind
        self._parser = FrameParser()

    def feed(self, data: bytes) -> list[Frame]:
        return self._parser.feed(data)

    def reply(self) -> bytes:
        return b""  # AudioSocket answers nothing

    def frame_bytes(self, sample_rate: int) -> int | None:
        """One 20 ms audio frame on the wire (header and samples), as Asterisk sends it."""
        return HEADER_SIZE + frame_bytes(sample_rate)

    def audio(self, pcm: bytes) -> bytes:
        return encode_audio(pcm, self.kind)

    def command(self, text: str) -> bytes:
        raise ValueError(f"AudioSocket has no command {text!r}")

    def hangup(self) -> bytes:
        return HANGUP


def encode_uuid(call_id: uuid.UUID) -> bytes:
    """What Asterisk sends first; used by the fake Asterisk in tests."""
    return _HEADER.pack(Kind.UUID, 16) + call_id.bytes


def encode_dtmf(digit: str) -> bytes:
    if digit not in DTMF_DIGITS or len(digit) != 1:
        raise ValueError("not a DTMF digit")
    return _HEADER.pack(Kind.DTMF, 1) + digit.encode("ascii")


def encode_error(code: bytes = b"") -> bytes:
    if len(code) > MAX_WIRE_PAYLOAD:
        raise ValueError("error payload too long")
    return _HEADER.pack(Kind.ERROR, len(code)) + code


def encode(frame: Frame) -> bytes:
    """Any frame back to bytes (tests, the fake Asterisk). Servers only send audio/hangup."""
    match frame:
        case AudioFrame(kind=kind, pcm=pcm):
            return encode_audio(pcm, kind)
        case HangupFrame():
            return HANGUP
        case UuidFrame(call_id=call_id):
            return encode_uuid(call_id)
        case DtmfFrame(digit=digit):
            return encode_dtmf(digit)
        case ErrorFrame(code=code):
            return encode_error(code)
    raise TypeError(f"not a frame: {frame!r}")
