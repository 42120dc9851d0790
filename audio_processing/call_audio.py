"""The seam between the AudioSocket connection and whatever talks on the call.

Why: the realtime bridge (or any other talker) should see one small object, not
sockets: inbound audio as an async iterator, DTMF digits, a playout queue to speak into,
and a way to hang up. The AudioSocket handler fills it; the talker only reads it.
"""

from __future__ import annotations

import asyncio
import functools
import zlib
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, Protocol, TypeVar

from audio_processing.playout import PlayoutQueue

T = TypeVar("T")

INBOUND_CAPACITY = 50  # frames: 1 s at 20 ms; older audio is worthless to a live talker


def first_batch(call_id: str, batch: int) -> int:
    """Frames (1..batch) in a call's first batch of caller audio, fixed per call.

    Why: calls answered in step (or a load generator's) would otherwise all read and send
    to the model on the same 20 ms frame; a first batch shorter by an amount of the call's
    own spreads that work over the batch's frames (docs/architecture.md, Caller audio to
    the model)."""
    return batch - zlib.crc32(call_id.encode()) % batch


class EndReason(StrEnum):
    """Why a call's audio ended: seen by the talker (`CallAudio.end_reason`) and the initiator."""

    FAR_END_HANGUP = "far_end_hangup"  # EOF, reset, or 0x00 / 0xFF from the peer
    LOCAL_HANGUP = "local_hangup"  # the talker called CallAudio.hangup()
    TALKER_FINISHED = "talker_finished"
    TALKER_FAILED = "talker_failed"
    PROTOCOL_ERROR = "protocol_error"
    STALLED = "stalled"  # nothing received for idle_timeout, or the peer stopped reading
    SERVER_STOP = "server_stop"
    FORGOTTEN = "forgotten"  # the initiator gave up before Asterisk connected


@dataclass(frozen=True, slots=True)
class CallMetadata:
    """What the initiator knows about the call it registered with the AudioSocket server."""

    call_id: str
    user_id: str | None = None
    task_id: str | None = None
    sample_rate: int = 8000
    extra: Mapping[str, str] = field(default_factory=dict)


class _DropOldest(Generic[T]):
    """A bounded single-consumer queue that drops its oldest item when full, and can end."""

    def __init__(self, capacity: int) -> None:
        self._items: deque[T] = deque()
        self._capacity = capacity
        self._ready = asyncio.Event()
        self._closed = False
        self._want = 1  # items waiting before the consumer is woken (see get_run)
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: T) -> None:
        if self._closed:
            return
        if len(self._items) >= self._capacity:
            self._items.popleft()
            self.dropped += 1
        self._items.append(item)
        if len(self._items) >= self._want:
            self._ready.set()

    def close(self) -> None:
        self._closed = True
        self._ready.set()

    def clear(self) -> int:
        """Drop everything queued; returns how many items were dropped."""
        dropped = len(self._items)
        self._items.clear()
        return dropped

    async def get_run(self, want: int, deadline: float | None) -> list[T] | None:
        """Every item waiting, once `want` are or the loop's clock reaches `deadline` (then
        maybe none); None once closed and empty.

        Why runs: a consumer that sends items on in groups needs one wake-up per group, not
        one per item, and a timer per wait, not per item (50 items a second per call).
        """
        loop = asyncio.get_running_loop()
        while len(self._items) < want and not self._closed:
            if deadline is not None and loop.time() >= deadline:
                break
            self._want = want
            self._ready.clear()
            timer = None if deadline is None else loop.call_at(deadline, self._ready.set)
            try:
                await self._ready.wait()
            finally:
                self._want = 1
                if timer is not None:
                    timer.cancel()
        if not self._items:
            return None if self._closed else []
        run = list(self._items)
        self._items.clear()
        return run

    async def __aiter__(self) -> AsyncIterator[T]:
        while True:
            while self._items:
                yield self._items.popleft()
            if self._closed:
                return
            self._ready.clear()
            await self._ready.wait()


CALLEE, AGENT = 0, 1  # the two sides of a call, as a listening tap names them


class CallAudio:
    """Given to the talker for one connected call."""

    def __init__(
        self,
        metadata: CallMetadata,
        playout: PlayoutQueue,
        inbound_capacity: int = INBOUND_CAPACITY,
    ) -> None:
        self.metadata = metadata
        self.playout = playout
        self._inbound: _DropOldest[bytes] = _DropOldest(inbound_capacity)
        self._dtmf: _DropOldest[str] = _DropOldest(64)
        self._hangup = asyncio.Event()
        self._inbound_observer: Callable[[bytes], None] | None = None
        self.last_inbound_at = 0.0  # the loop's clock when the newest caller frame came
        self._listen_tap: Callable[[int, bytes], None] | None = None
        self.end_reason: EndReason | None = None
        self.silence_expected = False  # see expect_silence
        # How long caller frames may wait in the kernel before they are handed over (the
        # server reads in batches, audio_socket_server.py): a gap shorter than this is no
        # silence. 0.0: each frame is handed over as it arrives.
        self.inbound_hold = 0.0

    # --- for the talker ---------------------------------------------------------------
    def inbound(self) -> AsyncIterator[bytes]:
        """Caller audio, slin at `metadata.sample_rate`, as it arrives; ends when the call ends.

        One consumer only. If it falls more than a second behind, the oldest frames are
        dropped (counted in `inbound_dropped`) rather than delaying everything after.
        """
        return aiter(self._inbound)

    async def next_inbound_run(self, want: int, deadline: float | None) -> list[bytes] | None:
        """Every caller frame waiting, once `want` are or the loop's clock reaches
        `deadline` (then maybe none: the callee is silent); None when the call ended."""
        return await self._inbound.get_run(want, deadline)

    def dtmf(self) -> AsyncIterator[str]:
        """Digits the far end pressed (AudioSocket 0x03); ends when the call ends."""
        return aiter(self._dtmf)

    def enqueue(self, pcm: bytes, mark: str | None = None) -> None:
        """Queue slin audio at the call's rate for paced playout, tagged with e.g. an item id."""
        self.playout.enqueue(pcm, mark)

    def flush(self) -> int:
        """Barge-in: drop unplayed audio now; returns the milliseconds dropped."""
        return self.playout.flush()

    async def drained(self) -> None:
        await self.playout.drained()

    def played_ms(self, mark: str | None) -> int:
        return self.playout.played_ms(mark)

    def on_first_frame(self, mark: str | None, callback: Callable[[], None]) -> None:
        """`callback()` once the first frame of `mark` is written to the call (see playout)."""
        self.playout.on_first_frame(mark, callback)

    def on_played(self, mark: str | None, callback: Callable[[], None]) -> None:
        """`callback()` once nothing of `mark` is left to play (see playout)."""
        self.playout.on_played(mark, callback)

    def expect_silence(self, expected: bool) -> None:
        """The callee may send nothing for a long time (the call is on hold): the server
        must not take the quiet for a dead peer; whether the channel is still up is then
        AMI's to say (docs/protocols.md, What Asterisk sends, and when)."""
        self.silence_expected = expected

    def observe_inbound(self, observer: Callable[[bytes], None] | None) -> None:
        """`observer(frame)` for each caller frame as it arrives, before any talker reads it
        (e.g. to time the inbound path); one observer, None removes it. Keep it cheap: it
        runs on the audio path, 50 times a second per call."""
        self._inbound_observer = observer

    def listen(self, tap: Callable[[int, bytes], None] | None) -> None:
        """`tap(side, frame)` for every frame heard on the call, so a person can listen in:
        the callee's (CALLEE) as they arrive, the agent's (AGENT) as they are written to
        Asterisk (what the callee hears, flushed audio never). None removes it. It runs on
        the audio path: it must only copy the frame somewhere."""
        self._listen_tap = tap
        self.playout.tap = None if tap is None else functools.partial(tap, AGENT)

    def discard_inbound(self) -> int:
        """Drop the caller frames nobody has read yet (say, heard while no talker was
        listening); returns how many."""
        return self._inbound.clear()

    def hangup(self) -> None:
        """Ask for the call to end: the server sends 0x00 and closes. Returns at once.

        Unplayed audio is dropped; to finish a goodbye first, `await drained()`.
        """
        self._hangup.set()

    @property
    def inbound_dropped(self) -> int:
        return self._inbound.dropped

    @property
    def closed(self) -> bool:
        return self.end_reason is not None

    # --- for the AudioSocket handler ------------------------------------------------------
    def push_inbound(self, pcm: bytes) -> None:
        self.last_inbound_at = asyncio.get_running_loop().time()
        if self._inbound_observer is not None:
            self._inbound_observer(pcm)
        if self._listen_tap is not None:
            self._listen_tap(CALLEE, pcm)
        self._inbound.put(pcm)

    def push_dtmf(self, digit: str) -> None:
        self._dtmf.put(digit)

    async def hangup_requested(self) -> None:
        await self._hangup.wait()

    def close(self, reason: EndReason) -> None:
        """The call is over: end the iterators so the talker can return on its own."""
        if self.end_reason is None:
            self.end_reason = reason
        self._inbound.close()
        self._dtmf.close()
        self.playout.close()


class CallTalker(Protocol):
    """Whatever talks on the call. Returning ends the call (the server sends hangup)."""

    async def run(self, audio: CallAudio) -> None: ...
