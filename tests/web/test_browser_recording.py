"""Recording with consent, end to end on the real Asterisk: a call placed with recording on
leaves a stereo WAV (callee left, agent right) as long as the call, linked to the call row;
its owner plays it in Chromium from the call page, another person gets 404, and the
retention job deletes it when due. A call without recording leaves nothing."""

from __future__ import annotations

import array
import asyncio
import math
import wave
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from call_processor.call_initiator import CallRequest
from call_processor.finished_call import FinishedCall
from common.call_policy import CallPolicy, RecordingPolicy
from database.repositories import calls, users
from database.types import utcnow
from launcher.platform import Platform
from task_manager.call_launcher import PlannedCall
from task_manager.initiator_launcher import InitiatorLauncher
from tests.calls.conftest import CallStack, call_stack
from tests.support import sandbox as sb
from tests.support.recording_talker import RecordingTalker
from tests.support.sandbox import Sandbox
from tests.task_manager.helpers import add_task
from tests.web.conftest import PASSWORD, sign_up

pytestmark = pytest.mark.sandbox

TONE_SECONDS = 3.0
TONE_HZ = 1000


def tone(seconds: float, hz: int = TONE_HZ) -> bytes:
    """8 kHz slin, loud enough to stand out from the callee on the other channel."""
    samples = array.array(
        "h", (int(8000 * math.sin(2 * math.pi * hz * n / 8000)) for n in range(int(seconds * 8000)))
    )
    return samples.tobytes()


class ToneTalkers:
    """The agent side: a 1 kHz tone for 3 s, then it hangs up."""

    async def prepare(self, request: CallRequest, call_id: str) -> RecordingTalker:
        return ClosingTalker(play=tone(TONE_SECONDS), hangup_after_play=True)


class ClosingTalker(RecordingTalker):
    async def aclose(self) -> None:
        return None


def tone_talkers(_platform: Platform) -> ToneTalkers:
    return ToneTalkers()


async def sign_up_in(page: Page, base_url: str, email: str) -> None:
    await page.goto(f"{base_url}/signup")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def channel_rms(path: Path) -> tuple[float, float]:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8000)
        samples = array.array("h", wav.readframes(wav.getnframes()))
    left, right = samples[0::2], samples[1::2]
    return _rms(left), _rms(right)


def _rms(values: array.array[int]) -> float:
    return math.sqrt(sum(v * v for v in values) / max(1, len(values)))


async def recorded_call(stack: CallStack, user_id: int, policy: RecordingPolicy) -> FinishedCall:
    """A call to the sandbox's HELLO far end, launched the way the scheduler launches it."""
    number = "+" + stack.sandbox.number(sb.HELLO, Sandbox.new_token())
    task = await add_task(stack.sessions, user_id, number, objective="book a visit")
    context = CallPolicy(recording=policy).to_context()
    planned = PlannedCall(user_id, task.id, number, 1, context=context)
    handed: asyncio.Future[FinishedCall] = asyncio.get_running_loop().create_future()

    async def on_done(_call: PlannedCall, finished: FinishedCall) -> None:
        handed.set_result(finished)

    InitiatorLauncher(stack.initiator, 1).launch(planned, on_done)
    return await asyncio.wait_for(handed, 45)


async def test_a_recorded_call_leaves_both_sides_as_long_as_the_call_for_its_owner_only(
    asterisk_sandbox: Sandbox, tmp_path: Path, browser: Browser
) -> None:
    async with call_stack(asterisk_sandbox, tmp_path, make_talkers=tone_talkers, web=True) as stack:
        assert stack.platform is not None
        store = stack.platform.recordings
        assert store is not None
        base = f"http://127.0.0.1:{stack.web_port}"
        page = await browser.new_page()
        await sign_up_in(page, base, "ann@example.com")
        async with stack.sessions() as s:
            ann = await users.get_by_email(s, "ann@example.com")
        assert ann is not None

        finished = await recorded_call(stack, ann.id, RecordingPolicy.ON)
        assert finished.answered
        assert finished.call_id is not None
        async with asyncio.timeout(10):
            while store.collected == 0:  # noqa: ASYNC110 - the store has no event to wait on
                await asyncio.sleep(0.05)
        async with stack.sessions() as s:
            row = await calls.get(s, user_id=ann.id, call_id=finished.call_id)
        assert row is not None
        assert row.recording_path == f"{ann.id}/{finished.call_id}.wav"
        path = tmp_path / "recordings" / row.recording_path
        assert row.duration_seconds is not None
        assert row.recording_seconds is not None
        assert abs(row.recording_seconds - row.duration_seconds) < 0.5
        with wave.open(str(path), "rb") as wav:
            assert abs(wav.getnframes() / 8000 - row.duration_seconds) < 0.5
        callee, agent = channel_rms(path)
        assert agent > 2000  # the 1 kHz tone at amplitude 8000: RMS ~5,600
        assert 0 < callee < agent  # the far end's "hello", then silence
        pickup = asterisk_sandbox.root / Sandbox.RECORDINGS
        assert list(pickup.glob(f"{finished.call_id}*")) == []  # moved, not copied

        # The owner's call page plays it: Chromium reads the WAV's duration.
        await page.goto(f"{base}/calls/{finished.call_id}")
        duration = await page.wait_for_function(
            "() => { const a = document.getElementById('recording');"
            " return a && a.readyState >= 1 && isFinite(a.duration) ? a.duration : null; }",
            timeout=10_000,
        )
        assert abs(await duration.json_value() - row.recording_seconds) < 0.1
        url = f"{base}/api/calls/{finished.call_id}/recording"
        ranged = await page.request.get(url, headers={"Range": "bytes=44-143"})
        assert ranged.status == 206
        assert len(await ranged.body()) == 100

        async with httpx.AsyncClient(base_url=base) as anonymous:
            assert (await anonymous.get(url)).status_code == 401
        async with httpx.AsyncClient(base_url=base) as bob:
            await sign_up(bob, "bob@example.com")
            assert (await bob.get(url)).status_code == 404  # like a call that does not exist

        async with stack.sessions() as s, s.begin():
            row = await calls.get(s, user_id=ann.id, call_id=finished.call_id)
            assert row is not None
            row.ended_at = utcnow() - timedelta(days=91)  # past the default 90 days
        assert await store.delete_expired() == 1
        assert not path.exists()
        async with stack.sessions() as s:
            row = await calls.get(s, user_id=ann.id, call_id=finished.call_id)
        assert row is not None
        assert row.recording_path is None


async def test_without_recording_nothing_is_recorded(
    asterisk_sandbox: Sandbox, tmp_path: Path
) -> None:
    async with call_stack(asterisk_sandbox, tmp_path, make_talkers=tone_talkers) as stack:
        finished = await recorded_call(stack, stack.user_id, RecordingPolicy.OFF)
        assert finished.answered
        await asyncio.sleep(1.0)  # a recording's event would have come with the hang-up
        async with stack.sessions() as s:
            row = await calls.get(s, user_id=stack.user_id, call_id=str(finished.call_id))
        assert row is not None
        assert row.recording_path is None
        assert not (tmp_path / "recordings").exists()
        found = list((asterisk_sandbox.root / Sandbox.RECORDINGS).glob(f"{finished.call_id}*"))
        assert found == []
