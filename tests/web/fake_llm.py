"""A local OpenAI-compatible chat completions server that streams, for the planning chat.

Strict where the SDK's request matters: POST /v1/chat/completions, the bearer key,
`stream: true`, a system message first, and tools in the function shape. Replies come
from a script, one per request, as chat.completion.chunk server-sent events (text in
small pieces; tool-call arguments split across chunks, as the real service does).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from tests.support.fake_twilio import HttpRequest, LocalHttpServer, write_json

KEY = "sk-test-chat"


@dataclass
class Text:
    text: str


@dataclass
class Tools:
    calls: list[tuple[str, dict[str, Any]]]


Reply = Text | Tools


class FakeChatServer(LocalHttpServer):
    def __init__(self, script: list[Reply] | None = None) -> None:
        super().__init__()
        self.script: list[Reply] = list(script or [])
        self.bodies: list[dict[str, Any]] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def tool_names(self, request: int = -1) -> list[str]:
        return [t["function"]["name"] for t in self.bodies[request].get("tools", [])]

    async def respond(self, request: HttpRequest, writer: asyncio.StreamWriter) -> None:
        problem = check(request)
        if problem or not self.script:
            await _error(writer, problem or "the fake has no scripted reply left")
            return
        body = request.json()
        self.bodies.append(body)
        head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
        writer.write(head.encode())
        for chunk in chunks(self.script.pop(0), body["model"]):
            writer.write(f"data: {json.dumps(chunk)}\n\n".encode())
            await writer.drain()
        writer.write(b"data: [DONE]\n\n")
        await writer.drain()


def check(request: HttpRequest) -> str | None:
    if (request.method, request.path) != ("POST", "/v1/chat/completions"):
        return f"unexpected {request.method} {request.path}"
    if request.headers.get("authorization") != f"Bearer {KEY}":
        return "wrong or missing API key"
    body = request.json()
    if body.get("stream") is not True:
        return "this fake only streams"
    messages = body.get("messages") or []
    if not messages or messages[0].get("role") != "system":
        return "the first message must be the system instructions"
    for tool in body.get("tools", []):
        if tool.get("type") != "function" or "parameters" not in tool.get("function", {}):
            return "tools must be functions with parameters"
    for message in messages:
        for call in message.get("tool_calls") or []:
            json.loads(call["function"]["arguments"])  # must be complete JSON by now
    return None


def chunks(reply: Reply, model: str) -> list[dict[str, Any]]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
            "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }  # fmt: skip

    out = [chunk({"role": "assistant", "content": ""})]
    if isinstance(reply, Text):
        words = reply.text.split(" ")
        out += [chunk({"content": w if i == 0 else " " + w}) for i, w in enumerate(words)]
        return [*out, chunk({}, "stop")]
    for index, (name, arguments) in enumerate(reply.calls):
        text = json.dumps(arguments)
        half = len(text) // 2
        first = {"index": index, "id": f"call_{index}", "type": "function",
                 "function": {"name": name, "arguments": text[:half]}}  # fmt: skip
        out.append(chunk({"tool_calls": [first]}))
        out.append(
            chunk({"tool_calls": [{"index": index, "function": {"arguments": text[half:]}}]})
        )
    return [*out, chunk({}, "tool_calls")]


async def _error(writer: asyncio.StreamWriter, message: str) -> None:
    await write_json(writer, 400, {"error": {"message": message, "type": "invalid_request_error"}})
