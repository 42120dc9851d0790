"""CallAudio, the seam the talker sees: inbound queue semantics and end of call."""

from __future__ import annotations

import asyncio

from audio_processing.call_audio import CallAudio, CallMetadata, EndReason
from audio_processing.playout import PlayoutQueue


def _audio(capacity: int = 3) -> CallAudio:
    return CallAudio(CallMetadata(call_id="c"), PlayoutQueue(8000), inbound_capacity=capacity)


async def _collect(audio: CallAudio) -> list[bytes]:
    return [frame async for frame in audio.inbound()]


async def test_a_slow_talker_loses_the_oldest_frames_and_they_are_counted() -> None:
    audio = _audio(capacity=3)
    for i in range(5):
        audio.push_inbound(bytes([i]))
    audio.close(EndReason.FAR_END_HANGUP)
    assert await asyncio.wait_for(_collect(audio), 1.0) == [b"\x02", b"\x03", b"\x04"]
    assert audio.inbound_dropped == 2


async def test_inbound_and_dtmf_end_when_the_call_closes() -> None:
    audio = _audio()
    reader = asyncio.ensure_future(_collect(audio))
    digits = asyncio.ensure_future(_digits(audio))
    audio.push_inbound(b"ab")
    audio.push_dtmf("5")
    await asyncio.sleep(0)
    assert not reader.done()
    audio.close(EndReason.FAR_END_HANGUP)
    assert await asyncio.wait_for(reader, 1.0) == [b"ab"]
    assert await asyncio.wait_for(digits, 1.0) == ["5"]
    assert audio.end_reason == "far_end_hangup"
    audio.push_inbound(b"late")  # after the end nothing more is delivered
    assert await asyncio.wait_for(_collect(audio), 1.0) == []


async def _digits(audio: CallAudio) -> list[str]:
    return [d async for d in audio.dtmf()]


async def test_hangup_is_a_request_the_server_sees() -> None:
    audio = _audio()
    waiter = asyncio.ensure_future(audio.hangup_requested())
    await asyncio.sleep(0)
    assert not waiter.done()
    audio.hangup()
    await asyncio.wait_for(waiter, 1.0)


async def test_close_drops_unplayed_audio_and_releases_drained() -> None:
    audio = _audio()
    audio.enqueue(bytes(3200), mark="m")
    waiter = asyncio.ensure_future(audio.drained())
    await asyncio.sleep(0)
    assert not waiter.done()
    audio.close(EndReason.SERVER_STOP)
    await asyncio.wait_for(waiter, 1.0)
    assert audio.played_ms("m") == 0


async def test_the_inbound_observer_sees_every_frame_as_it_arrives_even_a_dropped_one() -> None:
    audio = _audio(capacity=1)
    seen: list[bytes] = []
    audio.observe_inbound(seen.append)
    audio.push_inbound(b"\x01\x00")
    audio.push_inbound(b"\x02\x00")  # pushes the first out of the talker's queue
    assert seen == [b"\x01\x00", b"\x02\x00"]
    audio.observe_inbound(None)
    audio.push_inbound(b"\x03\x00")
    assert seen == [b"\x01\x00", b"\x02\x00"]
    audio.close(EndReason.FAR_END_HANGUP)
    assert await asyncio.wait_for(_collect(audio), 1.0) == [b"\x03\x00"]
