"""One line a person can act on, for whatever a probe of a service raised.

Why: the doctor's job is to say what is wrong in words, not to print a library's exception
(`InvalidStatus: server rejected WebSocket connection: HTTP 426`). No I/O: it only
reads the exceptions the SDK and websockets raise.
"""

from __future__ import annotations

import openai
from websockets.exceptions import InvalidHandshake, InvalidStatus

MAX_CHARS = 200


def describe_failure(exc: BaseException) -> str:
    return " ".join(_describe(exc).split())[:MAX_CHARS]


def _describe(exc: BaseException) -> str:
    if isinstance(exc, InvalidStatus):
        return _http_instead_of_websocket(exc)
    if isinstance(exc, InvalidHandshake):
        return f"the server did not answer as a WebSocket server ({exc})"
    if isinstance(exc, openai.AuthenticationError):
        return "HTTP 401: the API key was refused"
    if isinstance(exc, openai.NotFoundError):
        return f"HTTP 404: not found (a model or URL): {_api_message(exc)}"
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}: {_api_message(exc)}"
    if isinstance(exc, openai.APITimeoutError | TimeoutError):
        return "no answer in time"
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        return f"cannot connect: {cause or exc}"
    if isinstance(exc, openai.APIResponseValidationError):
        return "the answer was not an OpenAI API response"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, OSError) and exc.strerror:
        return f"cannot connect: {exc.strerror}"
    text = str(exc)
    return text if text else type(exc).__name__


def _http_instead_of_websocket(exc: InvalidStatus) -> str:
    status = exc.response.status_code
    if status == 401:
        return "HTTP 401 on the Realtime WebSocket: the API key was refused"
    body = bytes(exc.response.body or b"")[:512].lower()
    page = " (an HTML page)" if b"<html" in body or b"<!doctype" in body else ""
    return f"HTTP {status}{page} where a Realtime WebSocket was expected"


def _api_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        message = body.get("message") or (body.get("error") or {}).get("message")
        if message:
            return str(message)
    return exc.message
