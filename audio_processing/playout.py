"""The outbound side of a call: a playout queue and the paced writer that drains it.

Why: Asterisk does not re-time what it receives (docs/protocols.md, AudioSocket): a
burst goes to the RTP leg at once and clips, and audio already sent cannot be taken back
for barge-in. So audio waits here, framed to 20 ms, and leaves one frame per 20 ms on a
monotonic clock; silence fills the gaps so Asterisk's 2 s inactivity timer and the RTP
stream stay alive. Per-"mark" accounting tells the realtime bridge how much of an assistant
item was actually played (for `conversation.item.truncate`), when its first frame
went out (`on_first_frame`, for the reply latency) and when its last one did
(`on_played`, so a turn is stored as heard).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice

from audio_processing.audio_framer import AudioFramer
from audio_processing.audio_socket_protocol import Kind, encode_audio, frame_bytes, kind_for_rate
from common.owned_tasks import TaskOwner

log = logging.getLogger(__name__)

FRAME_MS = 20
FRAME_SECONDS = FRAME_MS / 1000


class PlayoutQueue:
    """20 ms slin frames waiting to be played, tagged by mark. No I/O, no clock.

    Frames of different marks never share a frame: a new mark pads the previous
    mark's tail with silence, so played_ms(mark) counts only that mark's audio. A tail
    shorter than a frame is also padded and played when nothing else is queued, so an
    underrun costs under 20 ms of silence instead of leaving the tail stuck.
    """

    def __init__(self, sample_rate: int = 8000) -> None:
        self.sample_rate = sample_rate
        self.frame_size = frame_bytes(sample_rate, FRAME_MS)
        self.bytes_per_ms = sample_rate * 2 // 1000 or 1
        self._framer = AudioFramer(self.frame_size)
        self._frames: deque[tuple[bytes, str | None, int]] = deque()
        self._tail_mark: str | None = None
        self._played: dict[str | None, int] = {}
        self._queued: dict[str | None, int] = {}  # frames of each mark still in the queue
        self._first_frame: dict[str | None, list[Callable[[], None]]] = {}
        self._last_frame: dict[str | None, list[Callable[[], None]]] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self.tap: Callable[[bytes], None] | None = None  # sees each audio frame taken
        self.on_flush: Callable[[], None] | None = None  # the far end must drop its queue too
        self._sent = 0  # frames at the head already sent ahead (AheadWriter)

    @property
    def queued_ms(self) -> int:
        audio = sum(n for _, _, n in self._frames) + self._framer.pending
        return audio // self.bytes_per_ms

    def enqueue(self, pcm: bytes, mark: str | None = None) -> None:
        if not pcm:
            return
        if mark != self._tail_mark:
            self._seal_tail()
            self._tail_mark = mark
        size = self.frame_size  # every pushed frame's length, as one shared int object:
        for frame in self._framer.push(pcm):  # len(frame) would be a new one per frame
            self._append(frame, mark, size)
        self._idle.clear()

    def _append(self, frame: bytes, mark: str | None, audio: int) -> None:
        self._frames.append((frame, mark, audio))
        self._queued[mark] = self._queued.get(mark, 0) + 1

    def _seal_tail(self) -> None:
        held = self._framer.pending - self._framer.pending % 2
        tail = self._framer.pad()
        if tail is not None:
            self._append(tail, self._tail_mark, held)

    def take(self) -> bytes | None:
        """The next frame to write now (counted as played), or None when there is nothing.

        The writer writes it synchronously, so `drained()` waiters, woken here, run
        only after the last frame has been written.
        """
        if not self._frames:
            self._seal_tail()
            if not self._frames:
                self._idle.set()
                return None
        frame, mark, audio = self._frames.popleft()
        if self._sent:
            self._sent -= 1
        first = mark not in self._played
        self._played[mark] = self._played.get(mark, 0) + audio
        self._queued[mark] -= 1
        if not self._frames and not self._framer.pending:
            self._idle.set()
        if first:
            self._run(self._first_frame, mark)
        if self._all_taken(mark):
            self._run(self._last_frame, mark)
        if self.tap is not None:
            self.tap(frame)
        return frame

    def take_ahead(self, lead: int, most: int) -> tuple[bytes | None, bytes]:
        """(the frame that plays now, audio to send the far end ahead of it).

        For a far end that keeps its own 20 ms clock (chan_websocket): the frames up to
        `lead` ahead of the playing one that were not sent yet, at most `most` of them, go
        in one message; the queue still advances one frame per tick, so played_ms, the
        callbacks and the tap stay on the time the callee hears them.
        """
        if not self._frames:
            self._seal_tail()
        end = min(len(self._frames), lead, self._sent + most)
        ahead = b""
        if end > self._sent:
            ahead = b"".join(f for f, _, _ in islice(self._frames, self._sent, end))
            self._sent = end
        return self.take(), ahead

    def on_first_frame(self, mark: str | None, callback: Callable[[], None]) -> None:
        """Call `callback` once, when the first frame of `mark` is taken for writing.

        The writer writes a taken frame in the same step (no await in between), so this
        is the moment the callee starts hearing the mark. Runs at once if that already
        happened; dropped if the mark's audio is flushed (barge-in) before it plays.
        """
        if mark in self._played:
            callback()
        else:
            self._first_frame.setdefault(mark, []).append(callback)

    def on_played(self, mark: str | None, callback: Callable[[], None]) -> None:
        """Call `callback` once nothing of `mark` is left to play: when its last queued
        frame is taken for writing, or at once if none is queued. Register it once the
        mark's audio is all enqueued; dropped if the mark's audio is flushed."""
        if self._all_taken(mark):
            callback()
        else:
            self._last_frame.setdefault(mark, []).append(callback)

    def _all_taken(self, mark: str | None) -> bool:
        held = mark == self._tail_mark and self._framer.pending > 0
        return self._queued.get(mark, 0) == 0 and not held

    def _run(self, callbacks: dict[str | None, list[Callable[[], None]]], mark: str | None) -> None:
        for callback in callbacks.pop(mark, ()):
            try:
                callback()
            except Exception:  # an observer's bug must never stop the call's audio
                log.exception("playout callback failed")

    def flush(self) -> int:
        """Drop everything not yet played (barge-in); returns the milliseconds dropped."""
        dropped = self.queued_ms
        sent_ahead, self._sent = self._sent, 0
        self._frames.clear()
        self._framer.clear()
        self._queued.clear()
        self._first_frame.clear()  # what never played never starts playing
        self._last_frame.clear()
        self._idle.set()
        if sent_ahead and self.on_flush is not None:
            self.on_flush()
        return dropped

    def played_ms(self, mark: str | None) -> int:
        """Milliseconds of this mark's audio written so far (excluding padding)."""
        return self._played.get(mark, 0) // self.bytes_per_ms

    @property
    def is_idle(self) -> bool:
        return self._idle.is_set()

    @property
    def sent_ahead(self) -> int:
        """Frames at the head already sent to a far end that keeps its own clock."""
        return self._sent

    async def drained(self) -> None:
        """Return once every queued frame has been written (at once if nothing is queued)."""
        await self._idle.wait()

    def close(self) -> None:
        """The writer is gone: drop what is left and release `drained()` waiters."""
        self.flush()


@functools.cache
def _silence(frame_size: int, kind: Kind) -> bytes:
    """One encoded silence frame per format, shared by every call's writer."""
    return encode_audio(bytes(frame_size), kind)


@functools.cache
def _silence_run(size: int) -> bytes:
    """Raw silence for an AheadWriter (its codec frames what it sends), shared likewise."""
    return bytes(size)


class PacedWriter:
    """Writes one frame per 20 ms from a PlayoutQueue, silence when it is empty.

    Timing is `next += 20 ms` on the loop's monotonic clock, so sleep overshoot does not
    accumulate. After a stall longer than `resync_frames` frames the schedule restarts
    from now instead of bursting the missed frames out back to back.
    """

    def __init__(
        self,
        queue: PlayoutQueue,
        send: Callable[[bytes], None],
        *,
        late_after: float = 0.040,
        resync_frames: int = 3,
    ) -> None:
        self.queue = queue
        self._send = send
        self._kind = kind_for_rate(queue.sample_rate)
        self._silence = _silence(queue.frame_size, self._kind)
        self._period = FRAME_MS / 1000
        self._late_after = late_after
        self._resync_after = resync_frames * self._period
        self.frames_written = 0
        self.silence_frames = 0
        self.late_frames = 0
        self.resyncs = 0
        self._last_write: float | None = None

    @property
    def written_ms(self) -> int:
        """Wall time covered by everything written, silence included."""
        return self.frames_written * FRAME_MS

    async def run(self, clock: PlayoutClock | None = None) -> None:
        """Write until cancelled or until `send` raises (the connection is gone): on the
        process's shared `clock` when given, else on a timer of its own."""
        if clock is not None:
            await clock.write_until_done(self)
            return
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            self._write_one(loop.time())
            due += self._period
            now = loop.time()
            if now - due > self._resync_after:
                self._resync(now - due)
                due = now
            await asyncio.sleep(max(0.0, due - now))

    def _resync(self, lag: float) -> None:
        """Count every resync; warn on the first and every 50th (an overloaded process
        resyncs every call at once, and a log line per call would deepen the overload)."""
        self.resyncs += 1
        if self.resyncs % 50 == 1:
            log.warning(
                "playout fell behind; resynchronising",
                extra={"lag_s": lag, "resyncs": self.resyncs},
            )

    def _write_one(self, now: float) -> None:
        pcm = self.queue.take()
        if pcm is None:
            self._send(self._silence)
            self.silence_frames += 1
        else:
            self._send(encode_audio(pcm, self._kind))
        self.frames_written += 1
        if self._last_write is not None and now - self._last_write > self._late_after:
            self.late_frames += 1
        self._last_write = now


class AheadWriter(PacedWriter):
    """For a far end that owns the 20 ms clock (Asterisk's chan_websocket): each tick
    sends the audio queued since the last one in one message, up to `lead_frames` ahead
    of what is playing, and moves the queue on by one frame so the accounting stays on
    the callee's time. A flush (barge-in) of audio already sent becomes `send_flush()`
    (FLUSH_MEDIA).

    Why ahead and not all at once: Asterisk keeps at most ~1000 frames and ignores
    messages over 65 500 bytes (docs/protocols.md, Media WebSocket); `most_frames` keeps
    one message under that, `lead_frames` keeps what a flush must take back small.

    Once the call has been quiet for `silence_run_frames` ticks, that many frames of
    silence go every as many ticks: with an empty queue chan_websocket sends the callee
    no RTP at all, and a trunk or phone may end a call whose media stopped. When speech
    follows, a FLUSH_MEDIA first drops the silence still queued, so it neither delays
    the speech nor puts the accounting ahead of what the callee hears. A shorter pause
    (a reply's audio arriving late, batched echo) sends neither.
    """

    def __init__(
        self,
        queue: PlayoutQueue,
        send_audio: Callable[[bytes], None],
        send_flush: Callable[[], None],
        *,
        lead_frames: int = 250,
        most_frames: int = 100,
        silence_run_frames: int = 10,
    ) -> None:
        super().__init__(queue, send_audio)
        self._send_flush = send_flush
        self.lead_frames = lead_frames
        self.most_frames = most_frames
        self.messages = 0
        self._owed = 0  # ticks a stall skipped: Asterisk played on, so we count them too
        self._silence_run = _silence_run(queue.frame_size * silence_run_frames)
        self._silence_every = silence_run_frames
        self._quiet_ticks = 0
        self._silence_queued = False  # Asterisk may still hold silence we sent
        self._ahead_before = 0  # frames Asterisk had from us when this tick began
        queue.on_flush = self._flushed

    def _write_one(self, now: float) -> None:
        self.frames_written += 1
        queue = self.queue
        self._ahead_before = queue.sent_ahead
        if queue.is_idle:
            self._write_quiet()
            return
        self._quiet_ticks = 0
        if self._silence_queued:
            self._silence_queued = False
            self._flushed()
        frame, ahead = queue.take_ahead(self.lead_frames, self.most_frames)
        if ahead:
            self.messages += 1
            self._send(ahead)
        if frame is None:
            self.silence_frames += 1
        while self._owed and queue.sent_ahead:  # only what Asterisk has had to play
            self._owed -= 1
            queue.take()

    def _write_quiet(self) -> None:
        self.silence_frames += 1
        self._owed = 0
        self._quiet_ticks += 1
        if self._quiet_ticks % self._silence_every == 0:
            self._send(self._silence_run)
            self.messages += 1
            self._silence_queued = True

    def _resync(self, lag: float) -> None:
        """The clock skipped the ticks of a stall; Asterisk's did not. The stall came before
        this (late) tick's write, so Asterisk played on only what it had from us before
        it: those frames are counted at the next tick, and played_ms stays on the
        callee's time. Silence it played out meanwhile is replaced at the next tick."""
        super()._resync(lag)
        self._owed += min(int(lag / self._period), max(0, self._ahead_before - 1))
        if self._silence_queued and self.queue.is_idle:
            self._quiet_ticks = self._silence_every - 1

    def _flushed(self) -> None:
        with contextlib.suppress(ConnectionError):  # gone: the reader ends the call
            self._send_flush()


class PlayoutClock:
    """One 20 ms tick that writes the due frame of every call in the process.

    Why shared: with a timer per call, waking N sleepers every 20 ms was about half of the
    event loop's time at 100 calls (benchmarks/, docs/architecture.md). One tick does the
    same writes with one wake-up; each call's frames stay 20 ms apart, because every call
    is written on every tick. A call joins at the next tick (at most 20 ms after it is
    connected). The tick task runs while any writer is registered and is cancelled by
    `stop()`.
    """

    def __init__(self, *, resync_frames: int = 3) -> None:
        self._period = FRAME_MS / 1000
        self._resync_after = resync_frames * self._period
        self._writers: dict[PacedWriter, asyncio.Future[None]] = {}
        self._owner = TaskOwner("playout-clock")
        self._ticking: asyncio.Task[None] | None = None
        self.ticks = 0

    @property
    def writers(self) -> int:
        return len(self._writers)

    async def write_until_done(self, writer: PacedWriter) -> None:
        """Write `writer`'s frames on every tick until its `send` raises (re-raised here)
        or the caller is cancelled."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._writers[writer] = done
        if self._ticking is None or self._ticking.done():
            self._ticking = self._owner.spawn(self._tick_while_writing(), "tick")
        try:
            await done
        finally:
            self._writers.pop(writer, None)

    async def _tick_while_writing(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while self._writers:
            self._write_all(loop.time())
            self.ticks += 1
            due += self._period
            now = loop.time()
            if now - due > self._resync_after:
                for writer in self._writers:
                    writer._resync(now - due)
                due = now
            await asyncio.sleep(max(0.0, due - now))

    def _write_all(self, now: float) -> None:
        for writer, done in list(self._writers.items()):
            if done.done():
                continue
            try:
                writer._write_one(now)
            except Exception as exc:  # that call's connection is gone; the others go on
                done.set_exception(exc)

    async def stop(self) -> None:
        """No more ticks: writers still registered end as if cancelled."""
        await self._owner.aclose()
        for done in self._writers.values():
            done.cancel()


@dataclass(frozen=True, slots=True)
class PlayoutTotals:
    """Counters of paced writers, summed over sessions: what /metrics reports as playout."""

    frames: int = 0  # every frame written, silence included
    silence: int = 0
    late: int = 0  # written more than 40 ms after the previous one
    resyncs: int = 0  # the writer fell behind and jumped ahead instead of bursting

    @classmethod
    def of(cls, writer: PacedWriter) -> PlayoutTotals:
        return cls(writer.frames_written, writer.silence_frames, writer.late_frames, writer.resyncs)

    def __add__(self, other: PlayoutTotals) -> PlayoutTotals:
        return PlayoutTotals(
            self.frames + other.frames,
            self.silence + other.silence,
            self.late + other.late,
            self.resyncs + other.resyncs,
        )
