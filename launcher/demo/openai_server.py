"""The demo's OpenAI-compatible server: chat completions and the Realtime WebSocket.

Why a server and not a client stand-in: the product's own `openai` clients, built by
launcher/openai_clients.py from OPENAI_BASE_URL, reach it like the real service, so the
planning chat, the judge and every call's Realtime session run unchanged. It serves
`POST /v1/chat/completions` (streamed for the planner, a JSON verdict for the judge) and
`/v1/realtime?model=...` (one DemoRealtimeSession per socket), on 127.0.0.1 only, and
accepts only the demo's own key.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response, StreamingResponse

from launcher.demo.planner import Reply, Text, planner_reply, verdict
from launcher.demo.realtime_session import DemoRealtimeSession
from web_interface.web_server import WebServer

log = logging.getLogger(__name__)


def _error(status: int, message: str) -> JSONResponse:
    body = {"error": {"message": message, "type": "invalid_request_error"}}
    return JSONResponse(body, status_code=status)


def _chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> str:
    body = {
        "id": "chatcmpl-demo", "object": "chat.completion.chunk", "created": int(time.time()),
        "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }  # fmt: skip
    return f"data: {json.dumps(body)}\n\n"


def stream_reply(reply: Reply, model: str) -> list[str]:
    """The reply as chat.completion.chunk server-sent events, in a few pieces each."""
    out = [_chunk(model, {"role": "assistant", "content": ""})]
    if isinstance(reply, Text):
        words = reply.text.split(" ")
        out += [_chunk(model, {"content": w if i == 0 else " " + w}) for i, w in enumerate(words)]
        return [*out, _chunk(model, {}, "stop"), "data: [DONE]\n\n"]
    text = json.dumps(reply.arguments)
    half = len(text) // 2
    first = {"index": 0, "id": "call_demo", "type": "function",
             "function": {"name": reply.name, "arguments": text[:half]}}  # fmt: skip
    out.append(_chunk(model, {"tool_calls": [first]}))
    out.append(
        _chunk(model, {"tool_calls": [{"index": 0, "function": {"arguments": text[half:]}}]})
    )
    return [*out, _chunk(model, {}, "tool_calls"), "data: [DONE]\n\n"]


def completion(content: str, model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-demo", "object": "chat.completion", "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content}}],
    }  # fmt: skip


def create_openai_app(key: str) -> FastAPI:
    app = FastAPI(title="OpenDeep demo: scripted OpenAI stand-in", docs_url=None, redoc_url=None)

    def authorized(header: str | None) -> bool:
        return secrets.compare_digest(header or "", f"Bearer {key}")

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        if not authorized(request.headers.get("authorization")):
            return _error(401, "Incorrect API key provided (this is the demo's server)")
        body = await request.json()
        model = str(body.get("model", ""))
        messages = body.get("messages") or []
        if body.get("response_format", {}).get("type") == "json_schema":
            record = str(messages[-1].get("content", "")) if messages else ""
            return JSONResponse(completion(json.dumps(verdict(record)), model))
        if body.get("stream") is not True:
            return JSONResponse(completion("OK", model))  # doctor's probe
        events = stream_reply(
            planner_reply([m for m in messages if m.get("role") != "system"]), model
        )

        async def sse() -> AsyncIterator[str]:
            for event in events:
                yield event

        return StreamingResponse(sse(), media_type="text/event-stream")

    @app.websocket("/v1/realtime")
    async def realtime(ws: WebSocket) -> None:
        if "openai-beta" in ws.headers or not authorized(ws.headers.get("authorization")):
            await ws.close(code=1008, reason="GA Realtime with the demo key only")
            return
        await ws.accept()

        async def send(event: dict[str, Any]) -> None:
            await ws.send_text(json.dumps(event))

        session = DemoRealtimeSession(send)
        try:
            await session.open()
            while True:
                await session.on_event(await ws.receive_text())
        except WebSocketDisconnect:
            pass
        finally:
            await session.aclose()

    return app


class DemoOpenAI:
    """`async with DemoOpenAI() as server:` then point OPENAI_BASE_URL at `base_url`."""

    def __init__(self) -> None:
        self.key = "demo-" + secrets.token_urlsafe(12)
        self._server = WebServer(create_openai_app(self.key), "127.0.0.1", 0)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.port}/v1"

    async def start(self) -> None:
        await self._server.start()
        log.info("demo OpenAI stand-in listening", extra={"base_url": self.base_url})

    async def stop(self) -> None:
        await self._server.stop()

    async def __aenter__(self) -> DemoOpenAI:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()
