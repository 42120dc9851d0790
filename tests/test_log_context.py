"""Structured logs: call context on every line a call's asyncio tasks write; JSON on demand."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest

from common.log_context import (
    ContextFilter,
    JsonFormatter,
    TextFormatter,
    bind_context,
    log_context,
)


@pytest.fixture
def captured() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("test.context")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger, stream


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_context_reaches_tasks_created_inside_and_stops_outside(captured) -> None:
    logger, stream = captured

    async def worker() -> None:
        logger.info("frame late", extra={"gap_ms": 41})

    with log_context(call_id="c-1", user_id=7):
        await asyncio.create_task(worker())
    logger.info("after")
    inside, after = lines(stream)
    assert inside["call_id"] == "c-1"
    assert inside["user_id"] == "7"
    assert inside["gap_ms"] == 41
    assert inside["msg"] == "frame late"
    assert "call_id" not in after


async def test_bind_context_is_per_asyncio_task(captured) -> None:
    logger, stream = captured

    async def call(call_id: str) -> None:
        bind_context(call_id=call_id)
        await asyncio.sleep(0)
        logger.info("ended")

    await asyncio.gather(call("a"), call("b"))
    assert sorted(line["call_id"] for line in lines(stream)) == ["a", "b"]


def test_text_format_puts_fields_after_the_message() -> None:
    record = logging.makeLogRecord(
        {"msg": "call ended", "levelname": "INFO", "name": "x", "outcome": "busy"}
    )
    assert TextFormatter().format(record).endswith("x: call ended outcome=busy")
