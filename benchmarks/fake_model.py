"""A light Realtime GA server for load tests: energy VAD, spoken replies, real GA events.

Why not tests/support/fake_realtime.py: that one keeps every event it receives and
runs numpy per 20 ms window, which is right for assertions and too heavy for a thousand
sessions. This one speaks the same GA events the bridge reads (session.created/updated,
input_audio_buffer.speech_started/stopped/committed, response.created,
response.output_audio.delta/done, response.done, conversation.item.truncated) for the
`audio/pcmu` format, and keeps only counters. Run: `python -m benchmarks.fake_model`;
it prints {"port": N} on stdout and serves until stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
import sys
import warnings
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

from audio_processing.g711 import slin_to_ulaw
from benchmarks.signals import tone

VAD_THRESHOLD = 500  # RMS of 16-bit samples
HANGOVER_MS = 300
REPLY_MS = 2000
CHUNK_MS = 200  # one delta; sent every CHUNK_MS / 10 (ten times real time, like the service)
_ULAW_PER_MS = 8


class Counters:
    def __init__(self) -> None:
        self.sessions = 0
        self.appends = 0
        self.speech_started = 0
        self.responses = 0
        self.cancelled = 0
        self.truncates = 0


class Session:
    """One connection: VAD over appended μ-law audio and one reply task at a time."""

    def __init__(self, ws: ServerConnection, deltas: list[str], counters: Counters) -> None:
        self.ws = ws
        self.deltas = deltas
        self.counters = counters
        self.ids = itertools.count(1)
        self.rest = b""
        self.speaking = False
        self.quiet_ms = 0
        self.speech_item = ""
        self.reply: asyncio.Task[None] | None = None
        self.response_id = ""
        self.create_response = True  # the session's turn_detection.create_response

    async def send(self, event: dict[str, Any]) -> None:
        event["event_id"] = f"event_{next(self.ids)}"
        await self.ws.send(json.dumps(event, separators=(",", ":")))

    async def run(self) -> None:
        await self.send({"type": "session.created", "session": {"type": "realtime"}})
        try:
            async for raw in self.ws:
                await self.handle(json.loads(raw))
        except ConnectionClosed:
            pass
        finally:
            if self.reply is not None:
                self.reply.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self.reply

    async def handle(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "input_audio_buffer.append":
            self.counters.appends += 1
            await self.vad(base64.b64decode(event["audio"]))
        elif kind == "session.update":
            session = event["session"]
            if session.get("type") != "realtime":
                await self.ws.close(1008, "session.type is required")
                return
            vad = (session.get("audio", {}).get("input", {}) or {}).get("turn_detection") or {}
            self.create_response = vad.get("create_response", True)
            await self.send({"type": "session.updated", "session": session})
        elif kind == "response.create":
            await self.start_reply()
        elif kind == "response.cancel":
            await self.cancel_reply()
        elif kind == "conversation.item.truncate":
            self.counters.truncates += 1
            keys = ("item_id", "content_index", "audio_end_ms")
            await self.send({"type": "conversation.item.truncated", **{k: event[k] for k in keys}})
        elif kind == "conversation.item.create":
            item = {**event["item"], "id": event["item"].get("id") or f"item_{next(self.ids)}"}
            await self.send({"type": "conversation.item.added", "item": item})
            await self.send({"type": "conversation.item.done", "item": item})

    async def vad(self, ulaw: bytes) -> None:
        data = self.rest + ulaw
        window = 20 * _ULAW_PER_MS
        whole = len(data) - len(data) % window
        self.rest = data[whole:]
        for start in range(0, whole, window):
            pcm = audioop.ulaw2lin(data[start : start + window], 2)
            await self.window(audioop.rms(pcm, 2) >= VAD_THRESHOLD)

    async def window(self, loud: bool) -> None:
        if loud and not self.speaking:
            self.speaking, self.quiet_ms = True, 0
            self.speech_item = f"item_{next(self.ids)}"
            self.counters.speech_started += 1
            await self.send(
                {"type": "input_audio_buffer.speech_started", "audio_start_ms": 0,
                 "item_id": self.speech_item}
            )  # fmt: skip
            if self.reply is not None and not self.reply.done():
                await self.cancel_reply()
        elif self.speaking:
            self.quiet_ms = 0 if loud else self.quiet_ms + 20
            if self.quiet_ms >= HANGOVER_MS:
                self.speaking = False
                item = self.speech_item
                await self.send(
                    {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 0,
                     "item_id": item}
                )  # fmt: skip
                await self.send({"type": "input_audio_buffer.committed", "item_id": item})
                if self.create_response:  # else the client asks (response.create)
                    await self.start_reply()

    async def start_reply(self) -> None:
        if self.reply is not None and not self.reply.done():
            await self.send(
                {"type": "error", "error": {"type": "invalid_request_error",
                 "code": "conversation_already_has_active_response", "message": "active"}}
            )  # fmt: skip
            return
        self.counters.responses += 1
        self.response_id = f"resp_{next(self.ids)}"
        loop = asyncio.get_running_loop()
        self.reply = loop.create_task(self.play(self.response_id), name=self.response_id)

    async def cancel_reply(self) -> None:
        task, self.reply = self.reply, None
        if task is None or task.done():
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self.counters.cancelled += 1
        await self.done(self.response_id, "cancelled")

    async def done(self, response_id: str, status: str) -> None:
        response = {"id": response_id, "object": "realtime.response", "status": status}
        await self.send({"type": "response.done", "response": {**response, "output": []}})

    async def play(self, response_id: str) -> None:
        await self.send(
            {"type": "response.created",
             "response": {"id": response_id, "status": "in_progress", "output": []}}
        )  # fmt: skip
        item = f"item_{next(self.ids)}"
        ref = {"response_id": response_id, "item_id": item, "output_index": 0}
        public = {"id": item, "type": "message", "role": "assistant", "content": []}
        await self.send({"type": "response.output_item.added", "item": public, **ref})
        for delta in self.deltas:
            await self.send(
                {"type": "response.output_audio.delta", "content_index": 0, "delta": delta,
                 **ref}
            )  # fmt: skip
            await asyncio.sleep(CHUNK_MS / 10_000)
        await self.send({"type": "response.output_audio.done", "content_index": 0, **ref})
        done = {**public, "status": "completed"}
        await self.send({"type": "response.output_item.done", "item": done, **ref})
        await self.done(response_id, "completed")


def reply_deltas(reply_ms: int = REPLY_MS, chunk_ms: int = CHUNK_MS) -> list[str]:
    """The reply, as base64 μ-law deltas, built once and shared by every session."""
    ulaw = slin_to_ulaw(tone(reply_ms, amplitude=4000, freq=220.0))
    step = chunk_ms * _ULAW_PER_MS
    return [base64.b64encode(ulaw[i : i + step]).decode() for i in range(0, len(ulaw), step)]


async def serve_forever(port: int) -> None:
    counters = Counters()
    deltas = reply_deltas()

    async def handler(ws: ServerConnection) -> None:
        path = ws.request.path if ws.request else ""
        # The retired beta opt-in header is refused (header lookup is case-insensitive).
        if not path.startswith("/v1/realtime?") or "openai-beta" in ws.request.headers:
            await ws.close(1008, "GA /v1/realtime only")
            return
        counters.sessions += 1
        await Session(ws, deltas, counters).run()

    async with serve(handler, "127.0.0.1", port, max_size=None, compression=None) as server:
        bound = server.sockets[0].getsockname()[1] if server.sockets else port
        print(json.dumps({"port": bound}), flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes stdin
        print(json.dumps(vars(counters)), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--uvloop", action="store_true")
    args = parser.parse_args()
    if args.uvloop:
        import uvloop

        uvloop.run(serve_forever(args.port))
    else:
        asyncio.run(serve_forever(args.port))


if __name__ == "__main__":
    main()
