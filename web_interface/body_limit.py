"""Request bodies over the limit get 413 before anything parses them or asks who is sending.

Why here, as pure ASGI around the whole app: FastAPI reads a whole body into memory and
parses it on the event loop that also paces live call audio, and it does so before the
route's login check runs. Four unauthenticated 200 MB bodies took the process from 146 to
1,521 MiB before their 401, and one 50 MB JSON body stalled the loop for over a second
(issue 13). A declared Content-Length over the limit is refused without reading a byte;
a body without one (chunked) is counted as it arrives and refused at the first byte over.

The body is read here (at most the limit) and handed on in one piece: the routes take
small JSON or form bodies only, so nothing streams an upload.
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web_interface.api_errors import CODES, error_body, is_v1

DEFAULT_LIMIT = 1024 * 1024


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_LIMIT) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared == -1:
            await _refuse(scope, receive, send, 400, "Content-Length is not a number")
            return
        if declared is not None and declared > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        body = await self._read(receive)
        if body is None:  # over the limit, or the client left
            await self._too_large(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read(self, receive: Receive) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"the request body is over the limit of {self.max_bytes} bytes"
        await _refuse(scope, receive, send, 413, detail)


def _content_length(scope: Scope) -> int | None:
    """The declared length; None when absent; -1 when it is not a number."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else -1
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """The whole body once, then the real channel (so a disconnect is still seen)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
    # Connection: close, so the server drops the rest of the body instead of reading it.
    body: dict[str, object] = {"detail": detail}
    if is_v1(str(scope.get("path", ""))):
        body = error_body(CODES[status], detail)
    response = JSONResponse(body, status_code=status, headers={"Connection": "close"})
    await response(scope, receive, send)
