"""PrivateCalls: one database lookup per call per process, however many pages ask."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from web_interface import private_calls
from web_interface.private_calls import PrivateCalls


@contextlib.asynccontextmanager
async def no_session() -> AsyncIterator[None]:
    yield None


async def test_many_pages_asking_at_once_cost_one_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[int, str]] = []

    async def slow_lookup(_s: Any, user_id: int, call_id: str) -> bool:
        asked.append((user_id, call_id))
        await asyncio.sleep(0.05)
        return call_id == "secret"

    monkeypatch.setattr(private_calls, "is_private", slow_lookup)
    calls = PrivateCalls(no_session)  # type: ignore[arg-type]
    answers = await asyncio.gather(*(calls.is_private(7, "secret") for _ in range(200)))
    assert answers == [True] * 200
    assert asked == [(7, "secret")]
    assert await calls.is_private(7, "plain") is False
    assert await calls.is_private(8, "secret") is True  # another person's question is theirs
    assert len(asked) == 3


async def test_a_lookup_given_up_is_forgotten_and_its_waiters_time_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    release = asyncio.Event()
    asked = 0

    async def stuck_lookup(_s: Any, user_id: int, call_id: str) -> bool:
        nonlocal asked
        asked += 1
        await release.wait()
        return False

    monkeypatch.setattr(private_calls, "is_private", stuck_lookup)
    calls = PrivateCalls(no_session)  # type: ignore[arg-type]
    first = asyncio.ensure_future(asyncio.wait_for(calls.is_private(1, "c"), 0.05))
    await asyncio.sleep(0.01)
    waiter = asyncio.ensure_future(asyncio.wait_for(calls.is_private(1, "c"), 1.0))
    with pytest.raises(TimeoutError):
        await first
    with pytest.raises(TimeoutError):  # not CancelledError: the waiting page lives on
        await waiter
    release.set()
    assert await calls.is_private(1, "c") is False  # asked again, answered
    assert asked == 2
