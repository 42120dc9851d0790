"""The bridge fills the caller's silence: Asterisk sends nothing while the callee is quiet.

Found on the sandbox: after the IVR prompt no frames came at all, so the model's VAD (which
runs on audio time) never saw the end of the callee's turn and the agent never answered.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np

from audio_processing.g711 import ulaw_to_slin
from audio_processing.realtime.audio import CallerFrames, with_silence
from audio_processing.realtime.bridge import BridgeOptions, RealtimeBridge
from launcher.openai_clients import realtime_client
from tests.calls.conftest import wait_until
from tests.realtime.conftest import PacedCall, session_for, voice
from tests.support.fake_realtime import FakeRealtimeServer


class NoTools:
    async def call_tool(self, name: str, args: dict[str, object]) -> str:
        return "unused"


async def test_a_callee_who_stops_sending_audio_still_ends_their_turn() -> None:
    async with FakeRealtimeServer() as fake:
        client = realtime_client("test-key", fake.base_url)
        call = PacedCall()
        call.start()
        session = session_for(client, transcription_model="gpt-4o-mini-transcribe")
        bridge = RealtimeBridge(session, NoTools(), None, BridgeOptions(greet_after=None))
        task = asyncio.get_running_loop().create_task(bridge.run(call.audio), name="bridge")
        try:
            await session.ready()
            await call.feed(voice(400))  # then nothing at all, like Asterisk
            fed_at = time.monotonic()
            await fake.wait_for("input_audio_buffer.append", count=1)
            await wait_until(
                lambda: any(
                    e.type == "input_audio_buffer.speech_stopped" for e in fake.session.sent
                ),
                timeout=5,
                interval=0.01,
            )
            waited_ms = (time.monotonic() - fed_at) * 1000
            pcm = np.frombuffer(ulaw_to_slin(bytes(fake.session.appended_audio)), dtype="<i2")
            filled_ms = (len(pcm) - 400 * 8) / 8
            assert np.all(pcm[400 * 8 :] == 0)  # what was added is silence
            assert filled_ms >= fake.vad_hangover_ms
            assert filled_ms <= waited_ms + 40  # at the clock's pace, never ahead of it
        finally:
            call.audio.close("caller hangup")  # type: ignore[arg-type]
            await asyncio.wait_for(task, 5)
            await call.stop()
            await client.close()


async def test_a_busy_event_loop_is_not_taken_for_the_callees_silence() -> None:
    """Frames that arrive while the loop is busy elsewhere come late, not as silence: a
    pause inserted into hold music would look like a person waiting (callee_watch)."""
    call = PacedCall()
    loud = voice(20)
    frames = with_silence(call.audio, 0.1)
    call.audio.push_inbound(loud)
    assert await anext(frames) == loud

    def arrive() -> None:  # Asterisk kept sending: the reader hands the frames over
        for _ in range(25):
            call.audio.push_inbound(loud)

    loop = asyncio.get_running_loop()
    loop.call_soon(time.sleep, 0.5)  # the loop is stuck (another call's work, a GC pause)
    loop.call_later(0.15, arrive)  # due with the 0.1 s wait for a frame, and handled first
    after = [await anext(frames) for _ in range(25)]
    assert after == [loud] * 25  # no silence in between
    call.audio.close("caller hangup")  # type: ignore[arg-type]
    await frames.aclose()


async def test_frames_come_in_runs_and_a_short_run_is_no_silence() -> None:
    """The bridge asks for a message's worth of frames and is woken once for them; a run
    cut short by the callee's pause still comes as heard audio, and the silence after it
    counts from its last frame."""
    call = PacedCall()
    loud = voice(20)
    frames = CallerFrames(call.audio, 0.1)
    for _ in range(7):
        call.audio.push_inbound(loud)
    assert await frames.next(5) == [loud] * 7  # all that was waiting, in one go
    call.audio.push_inbound(loud)
    call.audio.push_inbound(loud)
    assert await frames.next(5) == [loud] * 2  # the callee paused: what came, not silence
    quiet = await frames.next(5)
    assert quiet is not None
    assert set(quiet) == {bytes(len(loud))}  # then silence,
    assert len(quiet) >= 5  # caught up with the clock at once
    call.audio.close("caller hangup")  # type: ignore[arg-type]
    assert await frames.next(5) is None


async def test_no_silence_is_filled_while_the_server_may_still_be_gathering_a_read() -> None:
    """With batched reads the server may hold frames in the kernel for `inbound_hold`
    (audio_socket_server.py): a gap that short is no silence, a longer one is."""
    call = PacedCall()
    call.audio.inbound_hold = 0.14  # a batch of 5 and two frames
    loud = voice(20)
    frames = CallerFrames(call.audio, 0.1)
    for _ in range(5):  # one read's batch
        call.audio.push_inbound(loud)
    assert await frames.next(5) == [loud] * 5
    loop = asyncio.get_running_loop()
    heard = loop.time()
    loop.call_later(0.15, call.audio.push_inbound, loud)  # the held frame comes
    assert await frames.next(5) == [loud]  # past the 0.1 s fill_after: still no silence
    assert loop.time() - heard >= 0.15
    quiet = await frames.next(5)
    assert quiet is not None
    assert set(quiet) == {bytes(len(loud))}  # then quiet for longer: silence
    assert loop.time() - heard >= 0.15 + 0.14 + 0.04
    call.audio.close("caller hangup")  # type: ignore[arg-type]
