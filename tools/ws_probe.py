"""Probe Asterisk's chan_websocket (outgoing mode) against the sandbox: what it really sends.

Why: docs/protocols.md ("Media WebSocket") records the handshake, control messages and
hangup behaviour measured with this script; re-run it after an Asterisk upgrade. It
serves one WebSocket on 127.0.0.1:18765 (the sandbox's `opendeep-media` client,
asterisk/sandbox/conf/websocket_client.conf), originates one call over AMI into
[opendeep-agent] with OPENDEEP_MEDIA=websocket, runs one scenario and prints a JSON log.

    .venv/bin/python tools/ws_probe.py SCENARIO [--subprotocol NAME]

Scenarios: hello (handshake, first text, binary frame sizes and rate, then TEXT HANGUP),
echo (32000-byte message, FLUSH_MEDIA and 480-byte messages, measured through the echo
callee), dtmf (the callee presses 5), close (we close the socket), callee-hangup (the
callee hangs up after 8 s). Needs the sandbox running with this checkout's dialplan and
websocket_client.conf (`bash asterisk/sandbox/sandbox.sh start` from this checkout).
"""

from __future__ import annotations

import argparse
import array
import asyncio
import json
import math
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.raw_ami import RawAmi  # noqa: E402
from tests.support.sandbox import ECHO, PERSON, SILENT, Sandbox  # noqa: E402

PORT = 18765
SCENARIO_CALLEE = {
    "hello": PERSON,
    "echo": ECHO,
    "dtmf": PERSON,
    "close": PERSON,
    "callee-hangup": SILENT,
}


@dataclass
class Probe:
    """Everything one call's connection showed, in arrival order."""

    started: float = field(default_factory=time.monotonic)
    events: list[dict[str, Any]] = field(default_factory=list)
    binary: list[tuple[float, int, float]] = field(default_factory=list)  # (t, bytes, rms)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def note(self, what: str, **detail: Any) -> None:
        self.events.append({"t": round(time.monotonic() - self.started, 3), what: detail})


def tone(seconds: float, hz: float = 440.0, level: int = 8000) -> bytes:
    """Signed 16-bit little-endian 8 kHz sine: loud enough to survive ulaw and the echo."""
    samples = array.array(
        "h",
        (int(level * math.sin(2 * math.pi * hz * n / 8000)) for n in range(int(seconds * 8000))),
    )
    return samples.tobytes()


def rms(chunk: bytes) -> float:
    samples = array.array("h", chunk[: len(chunk) // 2 * 2])
    return math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0


def loud_spans(
    binary: list[tuple[float, int, float]], threshold: float = 1000.0, gap: float = 0.1
) -> list[tuple[float, float]]:
    """(start, seconds of audio) of each run of loud frames with no pause over `gap`.

    Why: through the echo callee this is how long each tone we sent was played.
    """
    spans: list[tuple[float, float]] = []
    start: float | None = None
    last = count = 0.0
    for t, size, level in binary:
        if start is not None and (level < threshold or t - last > gap):
            spans.append((round(start, 3), count / 16000))
            start = None
        if level >= threshold:
            if start is None:
                start, count = t, 0.0
            count += size
            last = t
    if start is not None:
        spans.append((round(start, 3), count / 16000))
    return spans


async def receive(ws: ServerConnection, probe: Probe) -> None:
    """Record every message until the socket closes."""
    try:
        async for message in ws:
            now = time.monotonic() - probe.started
            if isinstance(message, bytes):
                probe.binary.append((now, len(message), rms(message)))
            else:
                probe.note("text", message=message)
    except ConnectionClosed:
        pass
    probe.note(
        "closed",
        rcvd=str(ws.close_code) + " " + str(ws.close_reason),
        rcvd_then_sent=ws.protocol.close_rcvd_then_sent,
        rcvd_frame=str(ws.protocol.close_rcvd),
        sent_frame=str(ws.protocol.close_sent),
    )


async def drive(
    scenario: str, ws: ServerConnection, probe: Probe, ami: RawAmi, far_end: str
) -> None:
    """Our side of the scenario; the callee's side is its extension in the sandbox."""
    if scenario == "hello":
        await asyncio.sleep(4)
        probe.note("send", text="HANGUP")
        await ws.send("HANGUP")
    elif scenario == "echo":
        await asyncio.sleep(1)
        probe.note("send", binary=32000, label="2 s tone in one message")
        await ws.send(tone(2.0))
        await asyncio.sleep(4)
        probe.note("send", binary=32000, label="2 s tone, FLUSH_MEDIA 0.5 s later")
        await ws.send(tone(2.0))
        await asyncio.sleep(0.5)
        await ws.send("FLUSH_MEDIA")
        await asyncio.sleep(3.5)
        probe.note("send", binary="100 x 480", label="3 s of tone if tails are kept, 2 s if not")
        chunk = tone(0.03)
        for _ in range(100):
            await ws.send(chunk)
        await asyncio.sleep(5)
        await ws.send("HANGUP")
    elif scenario == "dtmf":
        await asyncio.sleep(2)
        probe.note("playdtmf", channel=far_end, digit="5")
        await ami.action("PlayDTMF", {"Channel": far_end, "Digit": "5", "Duration": "250"})
        await asyncio.sleep(2)
        await ws.send("HANGUP")
    elif scenario == "close":
        await asyncio.sleep(3)
        probe.note("send", close="1000")
        await ws.close(1000, "bye")
    # callee-hangup: wait for the callee (8 s) and record what arrives.


async def asterisk_cli(command: str) -> str:
    root = Sandbox().root
    done = await asyncio.to_thread(
        subprocess.run,
        [
            "chroot",
            str(root),
            "/usr/sbin/asterisk",
            "-C",
            "/opt/sandbox/conf/asterisk.conf",
            "-rx",
            command,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout


async def far_end_channel(token: str) -> str:
    """The callee's own channel (context callee-in): PlayDTMF there reaches us as the callee."""
    for _ in range(50):
        for line in (await asterisk_cli("core show channels concise")).splitlines():
            parts = line.split("!")
            if len(parts) > 2 and parts[1] == "callee-in" and token in parts[2]:
                return parts[0]
        await asyncio.sleep(0.1)
    raise RuntimeError(f"no callee channel for token {token}")


async def main(scenario: str, subprotocol: str | None) -> dict[str, Any]:
    sandbox = Sandbox()
    probe = Probe()
    call_id, token = str(uuid.uuid4()), sandbox.new_token()
    far_end: dict[str, str] = {}

    async def handler(ws: ServerConnection) -> None:
        request = ws.request
        assert request is not None
        probe.note(
            "request",
            path=request.path,
            headers=[f"{k}: {v}" for k, v in request.headers.raw_items()],
            subprotocol_chosen=ws.subprotocol,
        )
        probe.connected.set()
        receiver = asyncio.create_task(receive(ws, probe))
        if scenario != "callee-hangup":
            if scenario == "dtmf":
                far_end["channel"] = await far_end_channel(token)
            try:
                await drive(scenario, ws, probe, ami, far_end.get("channel", ""))
            except ConnectionClosed as exc:
                probe.note("send_failed", error=str(exc))
        await asyncio.wait_for(receiver, 15)
        probe.done.set()

    def select(_ws: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol | None:
        probe.note("offered_subprotocols", offered=list(offered))
        return Subprotocol(subprotocol) if subprotocol else None

    ami = await RawAmi.connect(sandbox.ami_host, sandbox.ami_port)
    await ami.login(sandbox.ami_username, sandbox.ami_secret)
    async with serve(handler, "127.0.0.1", PORT, select_subprotocol=select, max_size=None):
        fields = {
            "Channel": sandbox.channel(SCENARIO_CALLEE[scenario], token),
            "Context": sandbox.agent_context,
            "Exten": sandbox.agent_exten,
            "Priority": "1",
            "Timeout": "15000",
            "ChannelId": call_id,
            "Variable": [
                f"CALL_ID={call_id}",
                "OPENDEEP_MEDIA=websocket",
                "OPENDEEP_MEDIA_CONNECTION=opendeep-media",
            ],
            "Async": "true",
        }
        await ami.action("Originate", fields)
        try:
            await asyncio.wait_for(probe.connected.wait(), 20)
            await asyncio.wait_for(probe.done.wait(), 60)
        except TimeoutError:
            probe.note("timeout")
        await asyncio.sleep(1)
    hangups = [
        {k: e.get(k) for k in ("Channel", "Uniqueid", "Cause", "Cause-txt")}
        for e in ami.events
        if e.get("Event") == "Hangup"
        and (e.get("Uniqueid") == call_id or e.get("Channel", "").startswith("WebSocket/"))
    ]
    await ami.aclose()
    sizes = sorted({size for _, size, _ in probe.binary})
    span = probe.binary[-1][0] - probe.binary[0][0] if len(probe.binary) > 1 else 0.0
    return {
        "scenario": scenario,
        "call_id": call_id,
        "events": probe.events,
        "binary_frames": len(probe.binary),
        "binary_sizes": sizes,
        "binary_per_second": round((len(probe.binary) - 1) / span, 1) if span else None,
        "loud_spans": loud_spans(probe.binary),
        "ami_hangups": hangups,
        "far_end": sandbox.far_end(token).lines,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=sorted(SCENARIO_CALLEE))
    parser.add_argument("--subprotocol", default=None, help="subprotocol the server answers with")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.scenario, args.subprotocol)), indent=1))
