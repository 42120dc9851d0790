"""One contract suite for both call-slot limiters, then what only the Redis semaphore does."""

from __future__ import annotations

import asyncio
import random
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import redis

from call_processor.call_slots import (
    CallSlots,
    CallSlotsClosed,
    CallSlotsUnavailable,
    InProcessCallSlots,
    RedisCallSlots,
    create_call_slots,
)
from common import channels

WAIT = 5.0  # upper bound for something that should happen promptly
REPO = Path(__file__).resolve().parent.parent
MakeSlots = Callable[[int], Awaitable[CallSlots]]


@pytest.fixture
def slot_name(redis_url: str) -> Iterator[str]:
    """A per-test semaphore name, so parallel runs never share a key; deleted afterwards."""
    name = f"test-{uuid.uuid4().hex}"
    yield name
    with redis.Redis.from_url(redis_url) as client:
        client.delete(channels.call_slots(name))


@pytest.fixture(params=["in_process", "redis"])
async def make_slots(request: pytest.FixtureRequest) -> AsyncIterator[MakeSlots]:
    made: list[CallSlots] = []

    async def make(limit: int) -> CallSlots:
        if request.param == "redis":
            url, name = request.getfixturevalue("redis_url"), request.getfixturevalue("slot_name")
            slots: CallSlots = RedisCallSlots(url, limit, "node-a", name=name, poll_interval=0.01)
        else:
            slots = InProcessCallSlots(limit)
        await slots.start()
        made.append(slots)
        return slots

    yield make
    for slots in made:
        await slots.aclose()


async def test_holds_up_to_the_limit_then_times_out(make_slots: MakeSlots) -> None:
    slots = await make_slots(2)
    await slots.acquire("a")
    await slots.acquire("b")
    assert await slots.in_use() == 2
    with pytest.raises(TimeoutError):
        await slots.acquire("c", timeout=0.05)
    assert await slots.in_use() == 2


async def test_a_release_lets_a_waiter_in(make_slots: MakeSlots) -> None:
    slots = await make_slots(1)
    await slots.acquire("a")
    waiter = asyncio.create_task(slots.acquire("b", timeout=WAIT), name="test:waiter")
    await asyncio.sleep(0.05)
    assert not waiter.done()
    await slots.release("a")
    slot = await asyncio.wait_for(waiter, WAIT)
    assert slot.call_id == "b"
    assert await slots.in_use() == 1


async def test_leaving_the_slot_context_releases_it(make_slots: MakeSlots) -> None:
    slots = await make_slots(1)
    async with await slots.acquire("a") as slot:
        assert slot.call_id == "a"
        assert await slots.in_use() == 1
    assert await slots.in_use() == 0
    await slot.release()  # again: idempotent
    assert await slots.in_use() == 0


async def test_release_of_an_unknown_id_is_a_no_op(make_slots: MakeSlots) -> None:
    slots = await make_slots(2)
    await slots.acquire("a")
    await slots.release("never-acquired")
    await slots.release("never-acquired")
    assert await slots.in_use() == 1


async def test_acquiring_a_held_id_again_takes_no_second_slot(make_slots: MakeSlots) -> None:
    slots = await make_slots(2)
    await slots.acquire("a")
    await slots.acquire("a", timeout=0.5)
    assert await slots.in_use() == 1
    await slots.release("a")
    assert await slots.in_use() == 0


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_never_more_holders_than_the_limit(make_slots: MakeSlots, seed: int) -> None:
    rng = random.Random(seed)
    limit = rng.randint(1, 4)
    slots = await make_slots(limit)
    holding = 0
    most = 0

    async def call(index: int) -> None:
        nonlocal holding, most
        await asyncio.sleep(rng.uniform(0, 0.005))
        async with await slots.acquire(f"call-{index}", timeout=WAIT * 4):
            holding += 1
            most = max(most, holding)
            assert await slots.in_use() <= limit
            await asyncio.sleep(rng.uniform(0, 0.01))
            holding -= 1

    async with asyncio.TaskGroup() as group:
        for index in range(rng.randint(12, 24)):
            group.create_task(call(index), name=f"test:call-{index}")
    assert most == limit  # the limit was reached, and never passed
    assert await slots.in_use() == 0


async def test_aclose_turns_waiters_and_newcomers_away(make_slots: MakeSlots) -> None:
    slots = await make_slots(1)
    await slots.acquire("a")
    waiter = asyncio.create_task(slots.acquire("b", timeout=WAIT), name="test:waiter")
    await asyncio.sleep(0.05)
    await slots.aclose()
    with pytest.raises(CallSlotsClosed):
        await asyncio.wait_for(waiter, WAIT)
    with pytest.raises(CallSlotsClosed):
        await slots.acquire("c", timeout=0.05)


# --- Redis specifics -------------------------------------------------------------------


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


@pytest.fixture
async def make_redis_slots(
    redis_url: str, slot_name: str
) -> AsyncIterator[Callable[..., Awaitable[RedisCallSlots]]]:
    made: list[RedisCallSlots] = []

    async def make(limit: int, node_id: str, **options: float) -> RedisCallSlots:
        slots = RedisCallSlots(
            redis_url, limit, node_id, name=slot_name, poll_interval=0.01, **options
        )
        await slots.start()
        made.append(slots)
        return slots

    yield make
    for slots in made:
        await slots.aclose()


async def test_two_processes_share_one_limit(
    make_redis_slots: Callable[..., Awaitable[RedisCallSlots]],
) -> None:
    first, second = await make_redis_slots(2, "node-a"), await make_redis_slots(2, "node-b")
    await first.acquire("a1")
    await second.acquire("b1")
    assert await first.in_use() == await second.in_use() == 2
    with pytest.raises(TimeoutError):
        await first.acquire("a2", timeout=0.05)
    waiter = asyncio.create_task(first.acquire("a2", timeout=WAIT), name="test:waiter")
    await asyncio.sleep(0.05)
    assert not waiter.done()
    await second.release("b1")  # another process: found by polling
    await asyncio.wait_for(waiter, WAIT)
    with pytest.raises(TimeoutError):
        await second.acquire("b2", timeout=0.05)


async def test_aclose_gives_back_the_slots_it_held(
    make_redis_slots: Callable[..., Awaitable[RedisCallSlots]],
) -> None:
    leaving, staying = await make_redis_slots(2, "node-a"), await make_redis_slots(2, "node-b")
    await leaving.acquire("a1")
    await leaving.acquire("a2")
    await leaving.aclose()
    await staying.acquire("b1", timeout=0)
    await staying.acquire("b2", timeout=0)
    assert await staying.in_use() == 2


async def test_a_dead_process_loses_its_slot_after_the_lease(
    redis_url: str,
    slot_name: str,
    make_redis_slots: Callable[..., Awaitable[RedisCallSlots]],
) -> None:
    lease = 1.2
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.call_slots_holder",
        *(redis_url, slot_name, str(lease), "held-by-the-dead"),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert await asyncio.wait_for(holder.stdout.readline(), 30) == b"held\n"  # type: ignore[union-attr]
        survivor = await make_redis_slots(1, "survivor")
        # Alive, the holder keeps extending its lease: two lease lengths pass, no slot frees.
        with pytest.raises(TimeoutError):
            await survivor.acquire("mine", timeout=2 * lease)
    finally:
        holder.kill()
        await holder.wait()
    # Dead (SIGKILL, no release): the slot frees once the last lease runs out.
    await survivor.acquire("mine", timeout=lease + 2.0)
    assert await survivor.in_use() == 1


async def test_acquire_before_start_is_refused(redis_url: str, slot_name: str) -> None:
    slots = RedisCallSlots(redis_url, 1, "node-a", name=slot_name)
    with pytest.raises(RuntimeError, match="start"):
        await slots.acquire("a")
    await slots.aclose()


async def test_unreachable_redis_raises_a_clear_error() -> None:
    slots = RedisCallSlots(closed_port_url(), 1, "node-a", timeout=1.0)
    await slots.start()
    with pytest.raises(CallSlotsUnavailable):
        await slots.acquire("a", timeout=1.0)
    await slots.release("a")  # never raises
    await slots.aclose()


async def test_factory_picks_the_implementation(redis_url: str) -> None:
    in_process = create_call_slots(None, 3, "node-a")
    on_redis = create_call_slots(redis_url, 3, "node-a")
    assert isinstance(in_process, InProcessCallSlots)
    assert isinstance(on_redis, RedisCallSlots)
    await in_process.aclose()
    await on_redis.aclose()
