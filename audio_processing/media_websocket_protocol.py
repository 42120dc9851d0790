"""Asterisk's media WebSocket (chan_websocket, outgoing mode) as bytes in, frames out. No I/O.

Why a second wire: with AudioSocket we write every 20 ms frame on our own clock (50
writes a second per call); chan_websocket owns the 20 ms clock inside Asterisk, takes our
audio in chunks of any length and empties its queue on FLUSH_MEDIA (docs/protocols.md,
Media WebSocket). The WebSocket framing and handshake are the `websockets` package's
sans-I/O ServerProtocol; this module turns its events into the same frames AudioSocket
yields, so the server and the talker do not care which wire a call came on:

- the upgrade request's `call_id` query parameter (the dialplan's `v(call_id=...)`)
  becomes the UuidFrame that claims the call;
- BINARY messages are audio (slin, 320 bytes per 20 ms at 8 kHz);
- `DTMF_END digit:N` is a DtmfFrame; a close frame (or `HANGUP`) is a HangupFrame;
- `MEDIA_START` is checked (its format must be the call's); other notices are ignored.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Final
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import InvalidHandshake
from websockets.exceptions import ProtocolError as WsProtocolError
from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

try:  # the C unmasking websockets builds in its wheels; the same function in Python else
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - a platform without the wheel's extension
    from websockets.utils import apply_mask

from audio_processing.audio_socket_protocol import (
    DTMF_DIGITS,
    AudioFrame,
    AudioSocketCodec,
    DtmfFrame,
    Frame,
    HangupFrame,
    Kind,
    ProtocolError,
    UuidFrame,
    frame_bytes,
)

# Asterisk closes the socket and hangs up on any message over 65 500 bytes
# (docs/protocols.md, Media WebSocket): our chunks stay under it.
MAX_MESSAGE: Final = 65_500
FORMATS: Final[dict[Kind, str]] = {Kind.SLIN8: "slin", Kind.SLIN16: "slin16"}
SUBPROTOCOL: Final = Subprotocol("media")
_FIN_BINARY: Final = 0x80 | Opcode.BINARY.value  # FIN set, no RSV bits, opcode 2
_MASKED: Final = 0x80


def _select_subprotocol(_: ServerProtocol, offered: Sequence[Subprotocol]) -> Subprotocol | None:
    """Answer "media" when Asterisk offers it (as it does for /media); accept none too."""
    return SUBPROTOCOL if SUBPROTOCOL in offered else None


def call_id_of(path: str) -> uuid.UUID:
    """The call id in the upgrade request's query string, or ProtocolError."""
    values = parse_qs(urlsplit(path).query).get("call_id", [])
    if len(values) != 1:
        raise ProtocolError("the media WebSocket request carries no single call_id")
    try:
        return uuid.UUID(values[0])
    except ValueError:
        raise ProtocolError("the media WebSocket call_id is not a UUID") from None


def audio_messages(data: bytes) -> list[bytes] | None:
    """The unmasked payloads if `data` is exactly one or more whole, masked, unfragmented
    BINARY frames of even, non-zero length (what Asterisk sends 50 times a second per
    call, and what one batched read holds); else None, and the sans-I/O parser takes the
    bytes (a DTMF or control message among them, a frame cut by the read).

    Why a fast path: the parser's generator costs ~8 µs a frame against ~1 µs here, and
    the caller's audio is most of what a call reads (docs/architecture.md, Audio to the
    callee: whose clock).
    """
    payloads: list[bytes] = []
    at, size = 0, len(data)
    while at < size:
        if size - at < 8 or data[at] != _FIN_BINARY or not data[at + 1] & _MASKED:
            return None
        length, head = data[at + 1] & 0x7F, at + 2
        if length == 126:
            length, head = (data[at + 2] << 8) | data[at + 3], at + 4
        elif length == 127:
            return None  # 64-bit lengths: far over anything Asterisk frames
        end = head + 4 + length
        if length == 0 or length % 2 or end > size:
            return None
        payloads.append(apply_mask(data[head + 4 : end], data[head : head + 4]))
        at = end
    return payloads or None


def audio_frame_bytes(payload: int) -> int:
    """One masked frame of `payload` bytes on the wire (header, mask, payload)."""
    return (2 if payload < 126 else 4 if payload < 65536 else 10) + 4 + payload


def parse_notice(text: str) -> tuple[str, dict[str, str]]:
    """`NAME key:value key:value` (chan_websocket's plain-text control format)."""
    name, _, rest = text.strip().partition(" ")
    fields = dict(part.partition(":")[::2] for part in rest.split() if ":" in part)
    return name, fields


class MediaWebSocketCodec:
    """One media WebSocket connection: `feed` what the socket delivered and get frames;
    then write `reply()` (the handshake answer, pongs, the close handshake). `audio`,
    `command` encode what we send. After a ProtocolError every later feed raises too."""

    ahead = True  # Asterisk owns the playout clock: audio may be sent ahead of time

    def __init__(self, kind: Kind = Kind.SLIN8) -> None:
        self.kind = kind
        self._ws = ServerProtocol(select_subprotocol=_select_subprotocol, max_size=MAX_MESSAGE)
        self._partial: list[bytes] = []
        self._partial_op: Opcode | None = None
        self._error: ProtocolError | None = None
        self.notices: list[str] = []  # control messages seen (MEDIA_XOFF, STATUS, ...)
        # Bytes given to the parser while open that no parsed frame accounts for yet: the
        # parser drops a frame's header from its buffer before the payload comes, so an
        # empty buffer alone does not mean "between frames".
        self._unparsed = 0

    def frame_bytes(self, sample_rate: int) -> int | None:
        """One 20 ms frame of the call's slin as Asterisk sends it (a masked BINARY
        message; MEDIA_START is checked to carry that format)."""
        return audio_frame_bytes(frame_bytes(sample_rate))

    def feed(self, data: bytes) -> list[Frame]:
        if self._error is not None:
            raise self._error
        ws = self._ws
        if self._at_boundary and (payloads := audio_messages(data)) is not None:
            kind = self.kind
            return [AudioFrame(kind, pcm) for pcm in payloads]
        if ws.state is State.OPEN:
            self._unparsed += len(data)
        ws.receive_data(data)
        frames: list[Frame] = []
        try:
            for event in ws.events_received():
                if isinstance(event, Request):
                    frames.append(self._accept(event))
                elif isinstance(event, WsFrame):
                    self._unparsed -= audio_frame_bytes(len(event.data))
                    self._frame(event, frames)
            self._raise_parser_error()
        except ProtocolError as exc:
            self._error = ProtocolError(str(exc))
            raise ProtocolError(str(exc), frames) from None
        return frames

    @property
    def _at_boundary(self) -> bool:
        """Open, between messages, nothing held: a whole frame may skip the parser. (A
        peer that sends lengths in more bytes than needed leaves `_unparsed` off zero:
        its frames all go to the parser, which is slower, never wrong.)"""
        ws = self._ws
        return ws.state is State.OPEN and self._partial_op is None and self._unparsed == 0

    def _raise_parser_error(self) -> None:
        exc = self._ws.parser_exc or self._ws.handshake_exc
        if isinstance(exc, (WsProtocolError, InvalidHandshake)):
            raise ProtocolError(f"bad WebSocket bytes: {exc}")
        if exc is not None:
            raise ProtocolError(f"bad WebSocket message: {exc}")

    def _accept(self, request: Request) -> UuidFrame:
        ws = self._ws
        try:
            call_id = call_id_of(request.path)
        except ProtocolError:
            ws.send_response(ws.reject(400, "a media WebSocket needs ?call_id=<uuid>\n"))
            raise
        response = ws.accept(request)
        ws.send_response(response)
        if response.status_code != 101:
            raise ProtocolError(f"WebSocket handshake refused ({response.status_code})")
        return UuidFrame(call_id)

    def _frame(self, event: WsFrame, frames: list[Frame]) -> None:
        opcode, data = event.opcode, bytes(event.data)
        if opcode is Opcode.CONT:
            if self._partial_op is None:
                raise ProtocolError("a continuation frame with no message")
            self._partial.append(data)
            if event.fin:
                self._message(self._partial_op, b"".join(self._partial), frames)
                self._partial, self._partial_op = [], None
        elif opcode in (Opcode.BINARY, Opcode.TEXT):
            if event.fin:
                self._message(opcode, data, frames)
            else:
                self._partial, self._partial_op = [data], opcode
        elif opcode is Opcode.CLOSE:
            frames.append(HangupFrame())
        # PING is answered by the sans-I/O layer (see reply()); PONG needs nothing.

    def _message(self, opcode: Opcode, data: bytes, frames: list[Frame]) -> None:
        if opcode is Opcode.BINARY:
            if not data or len(data) % 2:
                raise ProtocolError(f"audio of {len(data)} bytes is empty or odd")
            frames.append(AudioFrame(self.kind, data))
            return
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("a control message that is not UTF-8") from None
        name, fields = parse_notice(text)
        if name == "MEDIA_START":
            self._check_start(fields)
        elif name == "DTMF_END":
            digit = fields.get("digit", "")
            if len(digit) != 1 or digit not in DTMF_DIGITS:
                raise ProtocolError(f"DTMF_END with a bad digit {digit!r}")
            frames.append(DtmfFrame(digit))
        elif name == "HANGUP":
            frames.append(HangupFrame())
        else:
            self.notices.append(name)

    def _check_start(self, fields: dict[str, str]) -> None:
        wanted = FORMATS.get(self.kind)
        if fields.get("format") != wanted:
            raise ProtocolError(f"MEDIA_START format {fields.get('format')!r}, expected {wanted!r}")

    def reply(self) -> bytes:
        """Bytes owed to Asterisk after a feed: the handshake answer, pongs, a close."""
        return b"".join(self._ws.data_to_send())

    def audio(self, pcm: bytes) -> bytes:
        """One BINARY message (any whole number of 20 ms frames, under MAX_MESSAGE)."""
        self._open()
        self._ws.send_binary(pcm)
        return b"".join(self._ws.data_to_send())

    def command(self, text: str) -> bytes:
        """A TEXT control message, e.g. FLUSH_MEDIA or HANGUP."""
        self._open()
        self._ws.send_text(text.encode("ascii"))
        return b"".join(self._ws.data_to_send())

    def hangup(self) -> bytes:
        """HANGUP, then the close handshake: Asterisk hangs up the WebSocket channel."""
        if self._ws.state is not State.OPEN:
            return b""
        out = self.command("HANGUP")
        self._ws.send_close(1000, "hangup")
        return out + b"".join(self._ws.data_to_send())

    def _open(self) -> None:
        if self._ws.state is not State.OPEN:
            raise ConnectionResetError("the media WebSocket is not open")


def either_wire(first: bytes) -> AudioSocketCodec | MediaWebSocketCodec:
    """The wire of a connection, from the first bytes it sent: AudioSocket opens with its
    UUID frame (0x01), a WebSocket with an HTTP `GET`.

    Why one port for both: inbound calls keep AudioSocket() while placed calls may use
    chan_websocket (AUDIOSOCKET_TRANSPORT), and a worker has one media port.
    """
    return MediaWebSocketCodec() if first[:1] == b"G" else AudioSocketCodec()
