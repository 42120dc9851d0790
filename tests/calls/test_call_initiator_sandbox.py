"""The call initiator and its per-call handler against the real Asterisk sandbox.

Every call goes out as a real SIP INVITE over the loopback trunk to a scripted far end,
and comes back (when answered) over a real AudioSocket connection.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from call_processor.call_slots import RedisCallSlots
from call_processor.finished_call import EndedBy, FinishedCall
from common.commands import Hangup, SendDtmf, Transfer
from database.models import Call
from database.repositories import calls, dnd
from database.states import CallStatus
from tests.calls.conftest import CallStack, call_stack, wait_until
from tests.support import sandbox as sb
from tests.support.sandbox import Sandbox

pytestmark = pytest.mark.sandbox


async def call_row(stack: CallStack, call_id: str) -> Call:
    async with stack.sessions() as s:
        return await calls.get(s, user_id=stack.user_id, call_id=call_id)


async def event_kinds(stack: CallStack, call_id: str) -> list[str]:
    async with stack.sessions() as s:
        events = await calls.list_events(s, user_id=stack.user_id, call_id=call_id)
    return [e.kind for e in events]


def only_call_id(stack: CallStack) -> str:
    assert len(stack.talkers.talkers) == 1
    return next(iter(stack.talkers.talkers))


async def collect_live_events(stack: CallStack, into: list[dict]) -> None:
    async with stack.bus.subscribe_events(stack.user_id) as events:
        async for event in events:
            into.append(event.model_dump())


async def test_answered_call_streams_the_far_end_prompt_to_the_talker(stack: CallStack) -> None:
    token = Sandbox.new_token()
    live: list[dict] = []
    watcher = asyncio.create_task(collect_live_events(stack, live))
    await asyncio.sleep(0.05)
    placing = stack.place(stack.request(sb.PERSON, token))
    await wait_until(lambda: len(stack.talkers.talkers) == 1)
    call_id = only_call_id(stack)
    talker = stack.talkers.talkers[call_id]
    far = await stack.sandbox.wait_far_end(token, lambda r: len(r.played) >= 2, timeout=15)
    expected_frames = sum(stack.sandbox.prompt_seconds(p) for p in far.played) / 0.02
    await asyncio.sleep(0.3)  # the last prompt frames are still in flight
    voiced = sum(1 for f in talker.frames if max(abs(b - 0) for b in f[1::2]) > 0)
    assert voiced == pytest.approx(expected_frames, rel=0.10)
    assert (await call_row(stack, call_id)).status == CallStatus.ANSWERED
    await stack.bus.publish(call_id, Hangup(reason="test done"))
    result = await asyncio.wait_for(placing, 10)
    assert result.status == CallStatus.COMPLETED
    assert result.answered
    assert result.hangup_cause == 16
    assert (result.end_reason, result.ended_by) == ("hangup_command", EndedBy.PLATFORM)
    row = await call_row(stack, call_id)
    assert FinishedCall.from_row(row) == result  # what on_done got is what the row says
    assert row.status == CallStatus.COMPLETED
    assert row.ended_at is not None
    assert row.duration_seconds > 4
    assert row.hangup_cause == 16
    kinds = await event_kinds(stack, call_id)
    assert kinds[:1] == ["originated"]
    assert "answered" in kinds
    assert "hangup" in kinds
    assert talker.closed == 1
    await stack.sandbox.wait_far_end(token, lambda r: r.has("hangup"))
    watcher.cancel()
    statuses = [e["status"] for e in live if e["type"] == "call_status"]
    assert statuses[0] == "answered"
    assert statuses[-1] == "completed"
    assert {e["call_id"] for e in live} == {call_id}


async def test_send_dtmf_command_reaches_the_far_end_ivr(stack: CallStack) -> None:
    token = Sandbox.new_token()
    placing = stack.place(stack.request(sb.IVR, token))
    await wait_until(lambda: len(stack.talkers.talkers) == 1)
    call_id = only_call_id(stack)
    await stack.sandbox.wait_far_end(token, lambda r: r.has("answered"), timeout=10)
    await wait_until(lambda: stack.talkers.talkers[call_id].started.is_set(), timeout=10)
    assert await stack.bus.publish(call_id, SendDtmf(digits="4")) == 1
    far = await stack.sandbox.wait_far_end(token, lambda r: bool(r.digits), timeout=15)
    assert far.digits == ["4"]
    result = await asyncio.wait_for(placing, 20)  # the IVR confirms and hangs up by itself
    assert result.status == CallStatus.COMPLETED
    assert result.end_reason in {"far_end_hangup", "talker_finished"}
    assert "dtmf_sent" in await event_kinds(stack, call_id)


@pytest.mark.parametrize(
    ("scenario", "status"),
    [
        (sb.BUSY, CallStatus.BUSY),
        (sb.CONGESTION, CallStatus.CONGESTION),
        (sb.NO_ANSWER, CallStatus.NO_ANSWER),
    ],
)
async def test_unanswered_calls_end_with_their_outcome_and_no_audio_session(
    asterisk_sandbox: Sandbox, tmp_path: Path, scenario: str, status: CallStatus
) -> None:
    async with call_stack(asterisk_sandbox, tmp_path, ring_timeout=2) as stack:
        token = Sandbox.new_token()
        result = await asyncio.wait_for(stack.place(stack.request(scenario, token)), 30)
        assert result.status == status, (result, await event_kinds(stack, only_call_id(stack)))
        assert result.outcome == str(status)
        assert not result.answered
        assert stack.audio_server.sessions_total == 0
        call_id = only_call_id(stack)
        row = await call_row(stack, call_id)
        assert row.status == status
        assert row.ended_at is not None
        assert stack.talkers.talkers[call_id].closed == 1  # pre-warmed talker released
        assert not stack.talkers.talkers[call_id].started.is_set()
        assert stack.calls_active == 0


async def test_silent_far_end_is_kept_up_until_it_hangs_up(stack: CallStack) -> None:
    token = Sandbox.new_token()
    result = await asyncio.wait_for(stack.place(stack.request(sb.SILENT, token)), 30)
    far = await stack.sandbox.wait_far_end(token, lambda r: r.has("hangup"))
    assert far.duration >= 7.5  # the far end's own 8 s, not AudioSocket's 2 s timeout
    assert result.status == CallStatus.COMPLETED
    assert (result.end_reason, result.ended_by) == ("far_end_hangup", EndedBy.FAR_END)


async def test_transfer_connects_the_far_end_to_another_number(stack: CallStack) -> None:
    token, target = Sandbox.new_token(), Sandbox.new_token()
    placing = stack.place(stack.request(sb.PERSON, token))
    await wait_until(lambda: len(stack.talkers.talkers) == 1)
    call_id = only_call_id(stack)
    await wait_until(lambda: stack.talkers.talkers[call_id].started.is_set(), timeout=10)
    await stack.bus.publish(
        call_id, Transfer(target="+" + stack.sandbox.number(sb.TRANSFER_TARGET, target))
    )
    await stack.sandbox.wait_far_end(target, lambda r: r.reached, timeout=10)
    await wait_until(lambda: stack.talkers.talkers[call_id].finished.is_set(), timeout=5)
    assert not placing.done()  # the callee is still on the line, now with the person
    await stack.bus.publish(call_id, Hangup())
    result = await asyncio.wait_for(placing, 10)
    assert (result.outcome, result.transferred) == ("transferred", True)
    assert (result.end_reason, result.ended_by) == ("hangup_command", EndedBy.PLATFORM)
    assert (await call_row(stack, call_id)).transferred
    assert "transfer" in await event_kinds(stack, call_id)


async def test_stop_hangs_up_calls_in_progress_and_writes_their_state(
    asterisk_sandbox: Sandbox, tmp_path: Path
) -> None:
    async with call_stack(asterisk_sandbox, tmp_path) as stack:
        token = Sandbox.new_token()
        placing = stack.place(stack.request(sb.PERSON, token))
        await wait_until(lambda: len(stack.talkers.talkers) == 1)
        call_id = only_call_id(stack)
        await wait_until(lambda: stack.talkers.talkers[call_id].started.is_set(), timeout=10)
        started = time.monotonic()
        await stack.initiator.stop()
        assert time.monotonic() - started < 5
        finished = await asyncio.wait_for(placing, 1)  # on_done heard of it, at once
        assert (finished.call_id, finished.status, finished.end_reason) == (
            call_id, CallStatus.INTERRUPTED, "shutdown",
        )  # fmt: skip
        row = await call_row(stack, call_id)
        assert row.status == CallStatus.INTERRUPTED
        assert row.ended_at is not None
        await stack.sandbox.wait_far_end(token, lambda r: r.has("hangup"), timeout=5)


async def our_channels(stack: CallStack, call_ids: set[str]) -> int:
    channels = await stack.ami.list_channels(timeout=5)
    return sum(1 for c in channels if c.get("Uniqueid") in call_ids)


async def run_and_sample(stacks: list[CallStack], calls_each: int) -> tuple[int, list]:
    """Place calls on every stack at once; sample AMI for our live channels throughout."""
    placing = [
        s.place(s.request(sb.PERSON, Sandbox.new_token()))
        for s in stacks
        for _ in range(calls_each)
    ]
    peak = 0
    while not all(p.done() for p in placing):
        ids = {cid for s in stacks for cid in s.talkers.talkers}
        peak = max(peak, await our_channels(stacks[0], ids))
        await asyncio.sleep(0.1)
    return peak, [p.result() for p in placing]


async def test_max_concurrent_calls_is_never_exceeded(
    asterisk_sandbox: Sandbox, tmp_path: Path
) -> None:
    async with call_stack(asterisk_sandbox, tmp_path, hangup_after=1.0) as stack:
        peak, results = await asyncio.wait_for(run_and_sample([stack], 10), 90)
    assert peak == 3
    assert len(results) == 10
    assert all(r.status == CallStatus.COMPLETED for r in results)


async def test_two_processes_share_one_global_limit(
    asterisk_sandbox: Sandbox, tmp_path: Path, redis_url: str
) -> None:
    name = f"test-{time.monotonic_ns()}"
    slots = [RedisCallSlots(redis_url, 3, f"node{i}", name=name) for i in range(2)]
    async with (
        call_stack(asterisk_sandbox, tmp_path / "a", slots=slots[0], hangup_after=1.0) as a,
        call_stack(asterisk_sandbox, tmp_path / "b", slots=slots[1], hangup_after=1.0) as b,
    ):
        peak, results = await asyncio.wait_for(run_and_sample([a, b], 5), 120)
    assert peak == 3
    assert len(results) == 10
    assert all(r.status == CallStatus.COMPLETED for r in results)


async def test_a_number_on_a_do_not_call_list_is_never_dialed_whoever_asks(
    stack: CallStack,
) -> None:
    """Defence in depth (issue 13): the scheduler checks the lists when it claims, and the
    call initiator checks them again just before Originate, for every call it is given."""
    token = Sandbox.new_token()
    request = stack.request(sb.PERSON, token)
    async with stack.sessions() as s, s.begin():
        await dnd.add(s, user_id=None, phone_number=request.phone_number, reason="opted out")
    finished = await asyncio.wait_for(stack.place(request), 10)
    assert (finished.status, finished.end_reason) == (CallStatus.FAILED, "do_not_call_list")
    assert not finished.placed
    await asyncio.sleep(2)  # a dialed call would have rung the far end by now
    assert stack.sandbox.far_end(token).lines == ()
    assert stack.talkers.talkers == {}
