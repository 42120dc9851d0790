"""Structured logging with call/task/user context carried by contextvars.

Why: a call touches AMI, AudioSocket, the model and the database from several asyncio
tasks; a contextvar set once in the call's handler tags every line those tasks log
(asyncio copies the context into each task it creates). Personal data (numbers, digits,
transcripts) goes in `extra=` fields, never in message text.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

_CONTEXT: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("log_context", default={})  # noqa: B039
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
# uvicorn attaches a copy of its message with terminal colour codes (`color_message`) for
# its own coloured formatter; ours writes plain lines, so it is dropped, and any colour
# code that still reaches a line (a message or field holding one) is removed.
_NOT_FIELDS = {"color_message"}
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|\x1b")


def plain_text(text: str) -> str:
    """`text` without terminal escape sequences (colours, cursor moves, bare ESC)."""
    return _ANSI.sub("", text)


@contextlib.contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Add fields (call_id=..., task_id=..., user_id=...) to every record logged inside."""
    merged = {**_CONTEXT.get(), **{k: str(v) for k, v in fields.items() if v is not None}}
    token = _CONTEXT.set(merged)
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def bind_context(**fields: object) -> None:
    """Set context for the rest of the current asyncio task (e.g. a call handler's root)."""
    _CONTEXT.set({**_CONTEXT.get(), **{k: str(v) for k, v in fields.items() if v is not None}})


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _CONTEXT.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        k: plain_text(v) if isinstance(v, str) else v
        for k, v in record.__dict__.items()
        if k not in _STANDARD and k not in _NOT_FIELDS and not k.startswith("_")
    }


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": plain_text(record.getMessage()),
        }
        out.update(_extras(record))
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = _extras(record)
        if extras:
            line += " " + " ".join(f"{k}={v}" for k, v in sorted(extras.items()))
        return plain_text(line)


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("panoramisk", "websockets", "httpx", "httpcore", "aiosqlite"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
