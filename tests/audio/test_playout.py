"""Playout queue accounting (pure) and the paced writer's clock (with a recording send)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audio_processing.audio_socket_protocol import FrameParser
from audio_processing.playout import AheadWriter, PacedWriter, PlayoutClock, PlayoutQueue


def _take_all(queue: PlayoutQueue) -> list[bytes]:
    frames = []
    while (frame := queue.take()) is not None:
        frames.append(frame)
    return frames


@given(st.lists(st.binary(max_size=900).map(lambda b: b[: len(b) // 2 * 2]), max_size=20))
def test_queue_plays_every_byte_in_20ms_frames(chunks: list[bytes]) -> None:
    queue = PlayoutQueue(8000)
    for chunk in chunks:
        queue.enqueue(chunk, mark="a")
    frames = _take_all(queue)
    assert all(len(f) == 320 for f in frames)
    played = b"".join(frames)
    total = sum(len(c) for c in chunks)
    assert played[:total] == b"".join(chunks)
    assert played[total:] == bytes(len(played) - total)  # only the tail is padded
    assert queue.played_ms("a") == total // 16
    assert queue.is_idle


def test_marks_never_share_a_frame_and_are_counted_separately() -> None:
    queue = PlayoutQueue(8000)
    queue.enqueue(b"\x01\x01" * 200, mark="item1")  # 25 ms
    queue.enqueue(b"\x02\x02" * 80, mark="item2")  # 10 ms
    first, second, third = _take_all(queue)
    assert first == b"\x01\x01" * 160
    assert second == b"\x01\x01" * 40 + bytes(240)
    assert third == b"\x02\x02" * 80 + bytes(160)
    assert queue.played_ms("item1") == 25
    assert queue.played_ms("item2") == 10
    assert queue.played_ms("never") == 0


def test_on_first_frame_fires_once_when_the_marks_first_frame_is_taken() -> None:
    queue = PlayoutQueue(8000)
    seen: list[tuple[str, int]] = []
    queue.enqueue(b"\x01\x01" * 320, mark="greeting")  # 40 ms
    queue.on_first_frame("reply", lambda: seen.append(("reply", queue.played_ms("reply"))))
    queue.enqueue(b"\x02\x02" * 320, mark="reply")
    queue.take()
    queue.take()
    assert seen == []  # the greeting's frames are not the reply's
    queue.take()
    assert seen == [("reply", 20)]  # at the frame that starts the reply, not before
    queue.take()
    assert seen == [("reply", 20)]  # once
    queue.on_first_frame("reply", lambda: seen.append(("late", 0)))
    assert seen[-1] == ("late", 0)  # registered after it played: at once


def test_on_first_frame_of_flushed_audio_never_fires_and_a_failing_callback_is_contained(
    caplog: pytest.LogCaptureFixture,
) -> None:
    queue = PlayoutQueue(8000)
    seen: list[str] = []
    queue.enqueue(bytes(640), mark="cut")
    queue.on_first_frame("cut", lambda: seen.append("cut"))
    queue.flush()  # barge-in before a frame went out
    queue.enqueue(bytes(320), mark="cut")
    assert queue.take() is not None
    assert seen == []

    def broken() -> None:
        raise RuntimeError("observer bug")

    queue.enqueue(bytes(640), mark="next")
    queue.on_first_frame("next", broken)
    queue.on_first_frame("next", lambda: seen.append("next"))
    with caplog.at_level(logging.ERROR, logger="audio_processing.playout"):
        assert queue.take() is not None  # the frame still goes out
    assert seen == ["next"]
    assert [r.getMessage() for r in caplog.records] == ["playout callback failed"]


def test_played_ms_counts_only_what_was_taken_and_flush_reports_the_rest() -> None:
    queue = PlayoutQueue(8000)
    queue.enqueue(bytes(320 * 10), mark="item")
    for _ in range(4):
        queue.take()
    assert queue.played_ms("item") == 80
    assert queue.queued_ms == 120
    assert queue.flush() == 120
    assert queue.take() is None
    assert queue.played_ms("item") == 80


async def test_drained_resolves_only_after_the_last_frame_is_taken() -> None:
    queue = PlayoutQueue(8000)
    queue.enqueue(bytes(320 * 3))
    waiter = asyncio.ensure_future(queue.drained())
    queue.take()
    queue.take()
    await asyncio.sleep(0)
    assert not waiter.done()
    queue.take()
    await asyncio.wait_for(waiter, 1.0)
    await asyncio.wait_for(queue.drained(), 1.0)  # nothing queued: at once


async def test_drained_is_released_by_flush() -> None:
    queue = PlayoutQueue(8000)
    queue.enqueue(bytes(3200))
    waiter = asyncio.ensure_future(queue.drained())
    await asyncio.sleep(0)
    queue.flush()
    await asyncio.wait_for(waiter, 1.0)


async def _run_writer(writer: PacedWriter, seconds: float) -> None:
    task = asyncio.ensure_future(writer.run())
    await asyncio.sleep(seconds)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_writer_fills_gaps_with_silence_and_plays_queued_audio() -> None:
    sent: list[bytes] = []
    queue = PlayoutQueue(8000)
    queue.enqueue(b"\x05\x00" * 160 * 3)
    writer = PacedWriter(queue, sent.append)
    await _run_writer(writer, 0.2)
    frames = [f for data in sent for f in FrameParser().feed(data)]
    assert len(sent) == writer.frames_written >= 5
    assert all(len(data) == 323 for data in sent)  # one write = one whole frame
    assert [f.pcm[:2] for f in frames[:3]] == [b"\x05\x00"] * 3  # type: ignore[union-attr]
    assert writer.silence_frames == writer.frames_written - 3
    assert writer.written_ms == writer.frames_written * 20


async def test_writer_resynchronises_after_a_stall_instead_of_bursting() -> None:
    """A 150 ms stall (7 missed frames) must not be followed by 7 back-to-back frames."""
    stamps: list[float] = []

    def send(_: bytes) -> None:
        stamps.append(time.monotonic())
        if len(stamps) == 5:
            time.sleep(0.150)  # the event loop is blocked, as under heavy load

    writer = PacedWriter(PlayoutQueue(8000), send)
    await _run_writer(writer, 0.5)
    after = stamps[5:]
    back_to_back = sum(1 for a, b in itertools.pairwise(after) if b - a < 0.005)
    assert writer.resyncs == 1
    assert writer.late_frames >= 1
    assert back_to_back <= 1


async def test_one_clock_writes_every_call_on_each_tick_and_outlives_a_dead_one() -> None:
    """Three calls on the shared clock: each gets a frame per tick (so 20 ms apart, whatever
    the host), one whose connection dies leaves, the others go on; with no call left the
    tick stops, and stop() ends a clock that still has calls."""
    clock = PlayoutClock()
    sent: dict[str, list[float]] = {"a": [], "b": [], "dead": []}

    def sender(name: str) -> Callable[[bytes], None]:
        def send(_frame: bytes) -> None:
            if name == "dead" and len(sent[name]) == 3:
                raise ConnectionResetError("peer gone")
            sent[name].append(time.monotonic())

        return send

    writers = {name: PacedWriter(PlayoutQueue(8000), sender(name)) for name in sent}
    runs = {name: asyncio.ensure_future(w.run(clock)) for name, w in writers.items()}
    await asyncio.sleep(0.3)
    assert runs["dead"].done()
    assert isinstance(runs["dead"].exception(), ConnectionResetError)
    assert clock.writers == 2
    assert abs(len(sent["a"]) - len(sent["b"])) <= 1  # written on the same ticks
    assert len(sent["a"]) >= 10
    assert clock.ticks >= len(sent["a"])
    for name in ("a", "b"):
        runs[name].cancel()
    await asyncio.gather(runs["a"], runs["b"], return_exceptions=True)
    assert clock.writers == 0
    await asyncio.sleep(0.05)  # the tick ends once nobody is registered
    ticks = clock.ticks
    await asyncio.sleep(0.1)
    assert clock.ticks == ticks
    again = asyncio.ensure_future(writers["a"].run(clock))  # a new call starts it again
    await asyncio.sleep(0.1)
    assert clock.ticks > ticks
    await clock.stop()
    again.cancel()
    await asyncio.gather(again, return_exceptions=True)


async def test_the_shared_clock_resynchronises_every_call_after_a_stall() -> None:
    """A 150 ms stall of the whole loop: each call resyncs once and no call gets a burst."""
    clock = PlayoutClock()
    stamps: list[float] = []

    def send(_: bytes) -> None:
        stamps.append(time.monotonic())
        if len(stamps) == 5:
            time.sleep(0.150)  # the event loop is blocked, as under heavy load

    quiet = PacedWriter(PlayoutQueue(8000), lambda _frame: None)
    writer = PacedWriter(PlayoutQueue(8000), send)
    runs = [asyncio.ensure_future(w.run(clock)) for w in (writer, quiet)]
    await asyncio.sleep(0.5)
    await clock.stop()
    await asyncio.gather(*runs, return_exceptions=True)
    back_to_back = sum(1 for a, b in itertools.pairwise(stamps[5:]) if b - a < 0.005)
    assert writer.resyncs >= 1  # more only if the host stalled us again
    assert quiet.resyncs == writer.resyncs  # one clock: every call resyncs together
    assert back_to_back <= writer.resyncs


# --- AheadWriter: a far end that keeps its own clock (chan_websocket) -------------------
FRAME = 320


def _ahead(lead: int = 250, most: int = 100) -> tuple[AheadWriter, list[bytes], list[str]]:
    sent: list[bytes] = []
    flushes: list[str] = []
    writer = AheadWriter(
        PlayoutQueue(), sent.append, lambda: flushes.append("FLUSH_MEDIA"),
        lead_frames=lead, most_frames=most,
    )  # fmt: skip
    return writer, sent, flushes


def _frames(n: int, start: int = 1) -> bytes:
    return b"".join(bytes([(start + i) % 256]) * FRAME for i in range(n))


def test_queued_audio_goes_ahead_in_one_message_and_plays_one_frame_a_tick() -> None:
    writer, sent, _ = _ahead()
    writer.queue.enqueue(_frames(10), "reply")
    writer._write_one(0.0)
    assert sent == [_frames(10)]
    assert writer.queue.played_ms("reply") == 20
    for tick in range(9):
        writer._write_one(0.02 + tick * 0.02)
    assert sent == [_frames(10)]  # nothing more to send: all of it went on the first tick
    assert writer.queue.played_ms("reply") == 200
    assert writer.queue.is_idle


def test_a_quiet_call_sends_a_run_of_silence_every_as_many_ticks() -> None:
    """chan_websocket sends the callee no RTP while its queue is empty."""
    writer, sent, flushes = _ahead()
    for tick in range(9):
        writer._write_one(tick * 0.02)
    assert sent == []  # under 200 ms of quiet: no RTP for that long harms nothing
    for tick in range(9, 30):
        writer._write_one(tick * 0.02)
    assert sent == [bytes(10 * FRAME)] * 3  # the 10th, 20th and 30th quiet ticks
    assert writer.silence_frames == 30
    assert flushes == []


def _quiet(writer: AheadWriter, ticks: int, start: float = 0.0) -> float:
    for tick in range(ticks):
        writer._write_one(start + tick * 0.02)
    return start + ticks * 0.02


def test_speech_after_a_quiet_spell_first_drops_the_silence_asterisk_still_holds() -> None:
    events: list[bytes | str] = []
    writer = AheadWriter(PlayoutQueue(), events.append, lambda: events.append("FLUSH_MEDIA"))
    now = _quiet(writer, 13)  # one run of silence, 7 of its frames still queued
    writer.queue.enqueue(_frames(5), "reply")
    writer._write_one(now)
    assert events == [bytes(10 * FRAME), "FLUSH_MEDIA", _frames(5)]
    now = _quiet(writer, 4, now + 0.02)  # the reply plays out
    writer.queue.enqueue(_frames(2), "next")  # a short pause: no silence, no flush
    writer._write_one(now)
    assert events[3:] == [_frames(2)]
    assert writer.queue.played_ms("reply") == 100


def test_a_stall_before_the_first_speech_counts_none_of_it_as_played() -> None:
    writer, _, flushes = _ahead()
    now = _quiet(writer, 10)  # silence went
    writer.queue.enqueue(_frames(50), "reply")
    writer._write_one(now + 0.1)  # this tick came 5 ticks late; the reply leaves now
    writer._resync(0.1)
    writer._write_one(now + 0.12)
    assert flushes == ["FLUSH_MEDIA"]
    assert writer.queue.played_ms("reply") == 40  # Asterisk had only silence to play


def test_silence_played_out_during_a_stall_is_replaced_at_the_next_tick() -> None:
    writer, sent, _ = _ahead()
    now = _quiet(writer, 12)
    assert len(sent) == 1
    writer._resync(0.3)  # Asterisk played our 200 ms of silence out meanwhile
    writer._write_one(now)
    assert len(sent) == 2


def test_a_long_reply_goes_in_bounded_messages_never_far_ahead_of_playout() -> None:
    writer, sent, _ = _ahead(lead=250, most=100)
    writer.queue.enqueue(_frames(400))
    writer._write_one(0.0)
    writer._write_one(0.02)
    writer._write_one(0.04)
    assert [len(m) // FRAME for m in sent] == [100, 100, 52]  # up to 250 ahead of the playing one
    writer._write_one(0.06)
    assert [len(m) // FRAME for m in sent][-1] == 1  # then one a tick, as one plays
    assert b"".join(sent) == _frames(400)[: len(b"".join(sent))]


def test_a_flush_of_audio_already_sent_tells_the_far_end_and_one_never_sent_does_not() -> None:
    writer, sent, flushes = _ahead()
    writer.queue.enqueue(_frames(50), "a")
    assert writer.queue.flush() == 1000
    assert flushes == []  # nothing had left: nothing for Asterisk to drop
    writer.queue.enqueue(_frames(50), "b")
    writer._write_one(0.0)
    writer._write_one(0.02)
    assert [len(m) // FRAME for m in sent] == [50]  # only b's audio ever left
    assert writer.queue.flush() == 960
    assert flushes == ["FLUSH_MEDIA"]
    assert writer.queue.played_ms("b") == 40


def test_ticks_a_stall_skipped_are_counted_as_played_at_the_next_one() -> None:
    writer, _, _ = _ahead()
    writer.queue.enqueue(_frames(50), "reply")
    writer._write_one(0.0)  # all 50 go ahead
    writer._write_one(0.12)  # 5 ticks late: Asterisk played 5 frames meanwhile
    writer._resync(0.1)
    writer._write_one(0.14)
    assert writer.queue.played_ms("reply") == 8 * 20
    assert writer.resyncs == 1
