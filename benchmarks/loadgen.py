"""The load generator: plays Asterisk for N calls at once (`python -m benchmarks.loadgen`).

Each leg connects to the AudioSocket port of the worker that expects its call (with
several workers, where that worker's Originate told Asterisk to connect it:
benchmarks/workers.py), sends the UUID frame, then one 20 ms slin8 frame every 20 ms on a
monotonic clock (a speech-like on/off pattern, phase shifted per call so the fake model's
VAD answers at different times) and records when every frame from the platform arrived.
Why one sender for all legs, in 20 phase slots: a task per leg would cost the generator
more than the platform it measures, and slots spread the legs over the 20 ms like
independent calls rather than one burst.

With `--wire websocket` each leg plays Asterisk's chan_websocket instead (outgoing mode,
docs/protocols.md, Media WebSocket): it upgrades to ws://127.0.0.1:<port>/media?call_id=<id>
offering subprotocol "media", sends MEDIA_START, then one masked BINARY frame per tick.
The websockets package's sans-I/O ClientProtocol inside an asyncio.Protocol per leg (no
task per leg, as for AudioSocket). Asterisk owns the playout clock on that wire, so each
leg emulates its queue (benchmarks/playout.py): the same tick that sends a frame plays one,
and the report counts underruns and the lead instead of spacing (absent for this wire).

Control (JSON lines): stdin {"targets": [[port, call_id], ...]} → stdout {"connected", ...};
stdin {"window": [t0, t1]} (time.monotonic of this machine) → hang up all legs, stdout the
spacing report inside that window.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import socket
import sys
import time
import uuid
from array import array
from typing import Any

from websockets.client import ClientProtocol
from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from audio_processing.audio_socket_protocol import AUDIO_KINDS, Kind, encode_uuid
from benchmarks.playout import Playout, playout_report
from benchmarks.procstat import CpuWindow
from benchmarks.signals import CYCLE_FRAMES, Talker
from benchmarks.stats import percentile, spacing, spacing_report, summary_ms

SLOTS = 20
WIRES = ("audiosocket", "websocket")
CONNECT_CONCURRENCY = 50
CONNECT_TIMEOUT = 10.0
_AUDIO = frozenset(int(k) for k in AUDIO_KINDS)


class _TcpLeg(asyncio.Protocol):
    """What both wires' legs share: the transport (no Nagle delay), hangup and close."""

    def __init__(self, offset: int) -> None:
        self.offset = offset  # the leg's slot in the 20 ms send cycle
        self.transport: asyncio.Transport | None = None
        self.got_hangup = False
        self.closed_at: float | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed_at = time.monotonic()


class Leg(_TcpLeg):
    """One call's TCP connection; records the arrival time of every audio frame."""

    def __init__(self, offset: int) -> None:
        super().__init__(offset)
        self.arrivals = array("d")
        self.buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        buf = self.buffer
        buf += data
        pos = 0
        while len(buf) - pos >= 3:
            end = pos + 3 + ((buf[pos + 1] << 8) | buf[pos + 2])
            if end > len(buf):
                break
            if buf[pos] in _AUDIO:
                self.arrivals.append(now)
            elif buf[pos] == Kind.HANGUP:
                self.got_hangup = True
            pos = end
        del buf[:pos]

    @property
    def open(self) -> bool:
        return self.closed_at is None and self.transport is not None


AUDIOSOCKET_HEADER = 3  # kind, 16-bit length: what the Talker's pre-encoded frames carry
MEDIA_START = (
    "MEDIA_START connection_id:{} channel:WebSocket/opendeep-media/0x1 format:slin "
    "optimal_frame_size:320 ptime:20"
)


class WsLeg(_TcpLeg):
    """One call as chan_websocket (outgoing) plays it: handshake, MEDIA_START, masked
    BINARY frames out; audio in goes to the emulated playout queue."""

    def __init__(self, offset: int, port: int, call_id: str) -> None:
        super().__init__(offset)
        self.call_id = call_id
        self.ws = ClientProtocol(
            parse_uri(f"ws://127.0.0.1:{port}/media?call_id={call_id}"),
            subprotocols=[Subprotocol("media")],
        )
        self.ready: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.playout = Playout()
        self.messages = array("d")  # arrival time of every data message
        self._binary = False  # the message being continued (CONT frames) is audio

    def start(self, transport: asyncio.Transport) -> None:
        self.transport = transport  # uvloop may call connection_made after returning
        self.ws.send_request(self.ws.connect())
        self._flush()

    def _flush(self) -> None:
        for chunk in self.ws.data_to_send():
            if chunk and self.transport is not None:
                self.transport.write(chunk)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        ws = self.ws
        ws.receive_data(data)
        for event in ws.events_received():
            if isinstance(event, WsFrame):
                self._frame(event, now)
            elif isinstance(event, Response):
                self._answered()
        self._flush()

    def _answered(self) -> None:
        if self.ws.handshake_exc is not None:
            if not self.ready.done():
                self.ready.set_result(False)
            return
        self.ws.send_text(MEDIA_START.format(self.call_id[:8]).encode())
        if not self.ready.done():
            self.ready.set_result(True)

    def _frame(self, frame: WsFrame, now: float) -> None:
        opcode = frame.opcode
        if opcode is Opcode.BINARY or (opcode is Opcode.CONT and self._binary):
            self._binary = not frame.fin
            if opcode is Opcode.BINARY:
                self.messages.append(now)
            if bytes(frame.data).count(0) != len(frame.data):  # not a quiet call's silence:
                self.playout.audio(now, len(frame.data))  # it is flushed before speech
        elif opcode is Opcode.TEXT:
            self.messages.append(now)
            text = bytes(frame.data)
            if text == b"FLUSH_MEDIA":
                self.playout.flush()
            elif text == b"HANGUP":
                self.got_hangup = True
        elif opcode is Opcode.CLOSE:
            self.got_hangup = True

    def send(self, frame: bytes, now: float) -> None:
        """One tick of Asterisk's clock: a caller frame out, a queued frame played.
        `frame` is the Talker's AudioSocket frame: its PCM goes out as one BINARY message."""
        self.ws.send_binary(frame[AUDIOSOCKET_HEADER:])
        self._flush()
        self.playout.tick(now)

    def hang_up(self) -> None:
        """A close frame, then EOF: Asterisk hanging up the WebSocket channel."""
        if self.open:
            self.ws.send_close(1000, "hangup")
            self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if not self.ready.done():
            self.ready.set_result(False)

    @property
    def open(self) -> bool:
        return self.closed_at is None and self.transport is not None and self.ready.done()


async def connect_all(targets: list[tuple[int, str]], wire: str = "audiosocket") -> list[Any]:
    loop = asyncio.get_running_loop()
    limit = asyncio.Semaphore(CONNECT_CONCURRENCY)
    rng = random.Random(7)

    async def one(port: int, call_id: str) -> Leg | WsLeg | None:
        if wire == "websocket":
            return await one_ws(port, call_id)
        async with limit:
            leg = Leg(rng.randrange(CYCLE_FRAMES))
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT):
                    transport, _ = await loop.create_connection(lambda: leg, "127.0.0.1", port)
            except (OSError, TimeoutError):
                return None
            leg.transport = transport  # uvloop may call connection_made after returning
            transport.write(encode_uuid(uuid.UUID(call_id)))
            return leg

    async def one_ws(port: int, call_id: str) -> WsLeg | None:
        async with limit:
            leg = WsLeg(rng.randrange(CYCLE_FRAMES), port, call_id)
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT):
                    transport, _ = await loop.create_connection(lambda: leg, "127.0.0.1", port)
                    leg.start(transport)
                    accepted = await leg.ready
            except (OSError, TimeoutError):
                return None
            return leg if accepted else None

    legs = await asyncio.gather(*(one(port, call_id) for port, call_id in targets))
    return [leg for leg in legs if leg is not None]


async def send_frames(
    legs: list[Any], lags: array[float], stop: asyncio.Event, wire: str = "audiosocket"
) -> None:
    """Every 20 ms, each leg writes one frame in its phase slot; records how late we woke.
    On the websocket wire the same tick also plays one queued frame (Asterisk's clock)."""
    talker = Talker()
    slots = [legs[i::SLOTS] for i in range(SLOTS)]
    base, tick = time.monotonic(), 0
    ws = wire == "websocket"
    while not stop.is_set():
        for index, group in enumerate(slots):
            due = base + tick * 0.020 + index * 0.020 / SLOTS
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            now = time.monotonic()
            lags.append(now - due)
            if ws:
                for leg in group:
                    if leg.open:
                        leg.send(talker.frame(tick, leg.offset), now)
                continue
            for leg in group:
                if leg.open:
                    leg.transport.write(talker.frame(tick, leg.offset))
        tick += 1


def report(
    legs: list[Any], window: tuple[float, float], lags: array[float], wire: str = "audiosocket"
) -> dict[str, Any]:
    t0, t1 = window
    closed_early = sum(1 for leg in legs if leg.closed_at is not None and leg.closed_at < t1)
    if wire == "websocket":  # Asterisk paces this wire: our spacing means nothing
        playout = playout_report(
            [leg.playout for leg in legs], [leg.messages for leg in legs], window
        )
        heard = [sum(1 for t in leg.playout.played if t0 <= t <= t1) for leg in legs]
        wired: dict[str, Any] = {"wire": wire, "spacing": None, "playout": playout}
    else:
        per_call = [spacing(leg.arrivals, t0, t1) for leg in legs]
        heard = [s.frames for s in per_call]
        wired = {"wire": wire, "spacing": spacing_report(per_call).as_dict()}
    return {
        **wired,
        "calls_without_frames": sum(1 for frames in heard if frames == 0),
        "closed_early": closed_early,
        "hangups_received": sum(leg.got_hangup for leg in legs),
        "send_lag_ms": summary_ms(list(lags)),
        "send_lag_p999_ms": round(percentile(lags, 99.9) * 1000, 3),
    }


async def run(wire: str = "audiosocket") -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    order = json.loads(await reader.readline())
    targets = [(int(port), str(call)) for port, call in order["targets"]]
    legs = await connect_all(targets, wire)
    print(json.dumps({"connected": len(legs), "t": time.monotonic()}), flush=True)
    lags: array[float] = array("d")
    stop = asyncio.Event()
    cpu = CpuWindow()
    cpu.start()
    sender = loop.create_task(send_frames(legs, lags, stop, wire), name="loadgen:sender")
    try:
        window = tuple(json.loads(await reader.readline())["window"])
    finally:
        stop.set()
        await sender
    cpu.stop()
    for leg in legs:
        if wire == "websocket":
            leg.hang_up()
        if leg.transport is not None:
            leg.transport.close()  # EOF, like Asterisk when the caller hangs up
    result = report(legs, window, lags, wire)
    result["cpu_cores"] = round(cpu.cores, 3)
    print(json.dumps(result), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--asyncio", action="store_true", help="plain asyncio, not uvloop")
    parser.add_argument("--wire", choices=WIRES, default="audiosocket")
    args = parser.parse_args(argv)
    if args.asyncio:
        asyncio.run(run(args.wire))
    else:
        import uvloop

        uvloop.run(run(args.wire))


if __name__ == "__main__":
    main()
