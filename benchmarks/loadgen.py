"""The load generator: plays Asterisk for N calls at once (`python -m benchmarks.loadgen`).

Each leg connects to the AudioSocket port of the worker that expects its call (with
several workers, where that worker's Originate told Asterisk to connect it:
benchmarks/workers.py), sends the UUID frame, then one 20 ms slin8 frame every 20 ms on a
monotonic clock (a speech-like on/off pattern, phase shifted per call so the fake model's
VAD answers at different times) and records when every frame from the platform arrived.
Why one sender for all legs, in 20 phase slots: a task per leg would cost the generator
more than the platform it measures, and slots spread the legs over the 20 ms like
independent calls rather than one burst.

Control (JSON lines): stdin {"targets": [[port, call_id], ...]} → stdout {"connected", ...};
stdin {"window": [t0, t1]} (time.monotonic of this machine) → hang up all legs, stdout the
spacing report inside that window.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import sys
import time
import uuid
from array import array
from typing import Any

from audio_processing.audio_socket_protocol import AUDIO_KINDS, Kind, encode_uuid
from benchmarks.procstat import CpuWindow
from benchmarks.signals import CYCLE_FRAMES, Talker
from benchmarks.stats import percentile, spacing, spacing_report, summary_ms

SLOTS = 20
CONNECT_CONCURRENCY = 50
CONNECT_TIMEOUT = 10.0
_AUDIO = frozenset(int(k) for k in AUDIO_KINDS)


class Leg(asyncio.Protocol):
    """One call's TCP connection; records the arrival time of every audio frame."""

    def __init__(self, offset: int) -> None:
        self.offset = offset
        self.transport: asyncio.Transport | None = None
        self.arrivals = array("d")
        self.buffer = bytearray()
        self.got_hangup = False
        self.closed_at: float | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment] - uvloop's is no subclass
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

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

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed_at = time.monotonic()

    @property
    def open(self) -> bool:
        return self.closed_at is None and self.transport is not None


async def connect_all(targets: list[tuple[int, str]]) -> list[Leg]:
    loop = asyncio.get_running_loop()
    limit = asyncio.Semaphore(CONNECT_CONCURRENCY)
    rng = random.Random(7)

    async def one(port: int, call_id: str) -> Leg | None:
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

    legs = await asyncio.gather(*(one(port, call_id) for port, call_id in targets))
    return [leg for leg in legs if leg is not None]


async def send_frames(legs: list[Leg], lags: array[float], stop: asyncio.Event) -> None:
    """Every 20 ms, each leg writes one frame in its phase slot; records how late we woke."""
    talker = Talker()
    slots = [legs[i::SLOTS] for i in range(SLOTS)]
    base, tick = time.monotonic(), 0
    while not stop.is_set():
        for index, group in enumerate(slots):
            due = base + tick * 0.020 + index * 0.020 / SLOTS
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            lags.append(time.monotonic() - due)
            for leg in group:
                if leg.open:
                    leg.transport.write(talker.frame(tick, leg.offset))  # type: ignore[union-attr]
        tick += 1


def report(legs: list[Leg], window: tuple[float, float], lags: array[float]) -> dict[str, Any]:
    t0, t1 = window
    per_call = [spacing(leg.arrivals, t0, t1) for leg in legs]
    closed_early = sum(1 for leg in legs if leg.closed_at is not None and leg.closed_at < t1)
    return {
        "spacing": spacing_report(per_call).as_dict(),
        "calls_without_frames": sum(1 for s in per_call if s.frames == 0),
        "closed_early": closed_early,
        "hangups_received": sum(leg.got_hangup for leg in legs),
        "send_lag_ms": summary_ms(list(lags)),
        "send_lag_p999_ms": round(percentile(lags, 99.9) * 1000, 3),
    }


async def run() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    order = json.loads(await reader.readline())
    legs = await connect_all([(int(port), str(call)) for port, call in order["targets"]])
    print(json.dumps({"connected": len(legs), "t": time.monotonic()}), flush=True)
    lags: array[float] = array("d")
    stop = asyncio.Event()
    cpu = CpuWindow()
    cpu.start()
    sender = loop.create_task(send_frames(legs, lags, stop), name="loadgen:sender")
    try:
        window = tuple(json.loads(await reader.readline())["window"])
    finally:
        stop.set()
        await sender
    cpu.stop()
    for leg in legs:
        if leg.transport is not None:
            leg.transport.close()  # EOF, like Asterisk when the caller hangs up
    result = report(legs, window, lags)  # type: ignore[arg-type]
    result["cpu_cores"] = round(cpu.cores, 3)
    print(json.dumps(result), flush=True)


def main() -> None:
    if "--asyncio" in sys.argv:
        asyncio.run(run())
    else:
        import uvloop

        uvloop.run(run())


if __name__ == "__main__":
    main()
