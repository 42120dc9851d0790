"""The AudioSocket server: Asterisk connects here, one TCP connection per answered call.

Why this shape: only a call registered with `expect` (one we originated, or an inbound call
announced on our AMI connection) may attach, and only once, because the UUID frame is the
only thing tying a socket to a call; an announcement may come just after its connection,
so an unknown id may wait briefly for it (`announce_wait`, expected_call.py). Inside one
connection, the reader, the paced playout writer and the talker run side by side and
"first to finish ends the rest": whoever sees the end (EOF, a bad frame, the talker
returning or hanging up, server stop) ends the others. Nothing a peer sends can make an
exception escape; the server keeps accepting. Needs nothing but host and port.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import socket
import uuid
from collections import Counter
from collections.abc import Callable
from typing import cast

from audio_processing.audio_socket_protocol import (
    HANGUP,
    AudioFrame,
    DtmfFrame,
    ErrorFrame,
    Frame,
    FrameParser,
    HangupFrame,
    Kind,
    ProtocolError,
    UuidFrame,
    kind_for_rate,
)
from audio_processing.call_audio import CallAudio, CallMetadata, CallTalker, EndReason
from audio_processing.expected_call import AttachRefused, ExpectedCall, ExpectedCalls, canonical
from audio_processing.playout import PacedWriter, PlayoutClock, PlayoutQueue, PlayoutTotals
from common.log_context import log_context
from common.log_throttle import LogThrottle
from common.owned_tasks import TaskOwner, cancel_and_wait

log = logging.getLogger(__name__)

EARLY_FRAMES = 64  # frames held before a call attaches; past them reading pauses
# Connections the kernel holds before we accept them (capped by net.core.somaxconn): a
# burst of answered calls must not be dropped while the loop is busy (docs/protocols.md).
LISTEN_BACKLOG = 1024


class _WriteStalled(ConnectionError):
    pass


class _Connection(asyncio.Protocol):
    """One accepted TCP connection: its bytes are parsed as they arrive and a call's frames
    handed to its CallAudio in the transport's own callback.

    Why not a StreamReader and a reader task: that costs a future and a task wake-up per
    20 ms frame per call, a good part of the event loop's time with hundreds of calls
    (docs/architecture.md, Caller audio to the model). Until a call attaches, frames are
    held (`early`; reading pauses past EARLY_FRAMES); then `attach` hands them over and
    every later frame goes straight to the call. The end (EOF, a hangup or error frame, bad
    bytes) is put in `ended`, for the session's watcher.
    """

    def __init__(self, on_made: Callable[[_Connection], None]) -> None:
        self._on_made = on_made
        self.transport: asyncio.Transport | None = None
        self.parser = FrameParser()
        self.early: list[Frame] = []
        self.error: ProtocolError | None = None  # bad bytes before the call attached
        self.failure: ProtocolError | None = None  # bad bytes that ended the call
        self.lost = False  # EOF or reset (before the call attached)
        self.reset = False  # ... and it was a reset
        self.arrived = asyncio.Event()  # early frames, an error or the end came
        loop = asyncio.get_running_loop()
        self.ended: asyncio.Future[EndReason] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.last_data = loop.time()  # the loop's clock at the newest bytes (idle timeout)
        self._loop = loop
        self._audio: CallAudio | None = None
        self._kind: Kind | None = None
        self._context: contextvars.Context | None = None

    # --- asyncio.Protocol --------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A TCP transport (uvloop's is no subclass of asyncio.Transport, hence the cast).
        self.transport = cast("asyncio.Transport", transport)
        with contextlib.suppress(OSError, AttributeError):
            sock = transport.get_extra_info("socket")
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._on_made(self)

    def data_received(self, data: bytes) -> None:
        self.last_data = self._loop.time()
        if self._context is not None:
            self._context.run(self._feed_call, data)
        else:
            self._feed_early(data)

    def eof_received(self) -> bool:
        self._lose(None)
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._lose(exc)
        if not self.closed.done():
            self.closed.set_result(None)

    # --- the call ------------------------------------------------------------------------
    def attach(self, audio: CallAudio) -> None:
        """From now on frames go to `audio` (those held first), in the caller's log context."""
        self._audio, self._kind = audio, kind_for_rate(audio.metadata.sample_rate)
        self._context = contextvars.copy_context()
        early, self.early = self.early, []
        self._context.run(self._hand_over, early)
        if self.error is not None:
            self._end_with(self.error)
        if self.lost:
            self._end(EndReason.FAR_END_HANGUP)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def _feed_early(self, data: bytes) -> None:
        try:
            self.early += self.parser.feed(data)
        except ProtocolError as exc:
            self.early += exc.frames
            self.error = exc
            assert self.transport is not None
            self.transport.pause_reading()  # nothing after bad bytes can be read
        if len(self.early) >= EARLY_FRAMES and self.transport is not None:
            self.transport.pause_reading()  # the call has not attached yet: hold off
        if self.early or self.error is not None:
            self.arrived.set()

    def _feed_call(self, data: bytes) -> None:
        if self.ended.done():
            return
        try:
            self._hand_over(self.parser.feed(data))
        except ProtocolError as exc:
            self._end_with(exc)

    def _hand_over(self, frames: list[Frame]) -> None:
        assert self._audio is not None
        assert self._kind is not None
        try:
            reason = _dispatch(frames, self._audio, self._kind)
        except ProtocolError as exc:
            self._end_with(exc)
            return
        if reason is not None:
            self._end(reason)

    def _lose(self, exc: Exception | None) -> None:
        if self._audio is None:
            self.lost, self.reset = True, exc is not None
            self.arrived.set()
        else:
            self._end(EndReason.FAR_END_HANGUP)

    def _end(self, reason: EndReason) -> None:
        if not self.ended.done():
            self.ended.set_result(reason)

    def _end_with(self, error: ProtocolError) -> None:
        if not self.ended.done():
            self.failure = error
            self.ended.set_result(EndReason.PROTOCOL_ERROR)
            if self.transport is not None and not self.transport.is_closing():
                self.transport.pause_reading()

    # --- writing ---------------------------------------------------------------------------
    @property
    def is_closing(self) -> bool:
        return self.transport is None or self.transport.is_closing()

    def write(self, data: bytes) -> None:
        if not self.is_closing:
            assert self.transport is not None
            self.transport.write(data)

    async def close(self) -> None:
        """Close and wait briefly; a peer that already vanished is not an error here."""
        if self.transport is not None:
            self.transport.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                await asyncio.shield(self.closed)


class AudioSocketServer:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        first_frame_timeout: float = 0.5,
        idle_timeout: float | None = 60.0,
        talker_grace: float = 1.0,
        stop_grace: float = 2.0,
        max_write_buffer: int = 65_536,
        announce_wait: float = 0.0,
        max_unannounced: int = 16,
    ) -> None:
        """`first_frame_timeout`: Asterisk writes the UUID right after connecting, so a
        peer silent for longer is not Asterisk. Not tighter: with the event loop lagging
        under load an expired timer can run before the read that holds a real call's UUID
        (a reused UUID is refused the moment it arrives, whatever this is).
        `idle_timeout`: a live call with no inbound bytes for this long is dead.
        `announce_wait`: how long an unknown UUID waits for its inbound announcement
        (0: refused at once, as when no inbound calls are taken), `max_unannounced` at once."""
        self.host = host
        self._port = port
        self.first_frame_timeout = first_frame_timeout
        self.idle_timeout = idle_timeout
        self.talker_grace = talker_grace
        self.stop_grace = stop_grace
        self.max_write_buffer = max_write_buffer
        self._expected = ExpectedCalls(hold=announce_wait, max_held=max_unannounced)
        self._server: asyncio.Server | None = None
        self._owner = TaskOwner("audiosocket")
        self._connections: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._seq = 0
        self.sessions_active = 0
        self.sessions_total = 0
        self._writers: set[PacedWriter] = set()
        self.clock = PlayoutClock()  # one 20 ms tick writes every session's frame
        self._ended_playout = PlayoutTotals()
        self.rejections: Counter[str] = Counter()  # refused connections by reason
        self._refusal_log = LogThrottle(every=1.0)  # one line a second per reason
        self.protocol_errors = 0
        self.internal_errors = 0

    @property
    def rejected_connections(self) -> int:
        return sum(self.rejections.values())

    @property
    def port(self) -> int:
        """The bound port (the real one when constructed with port 0)."""
        if self._server is not None and self._server.sockets:
            return int(self._server.sockets[0].getsockname()[1])
        return self._port

    # --- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        self._stopping = asyncio.Event()
        self._owner = TaskOwner("audiosocket")
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self._on_connect),
            self.host,
            self._port,
            reuse_address=True,
            backlog=LISTEN_BACKLOG,
        )
        log.info("AudioSocket server listening", extra={"host": self.host, "port": self.port})

    async def stop(self) -> None:
        """Stop accepting, end every session (hangup sent) within the grace, cancel the rest."""
        if self._server is None:
            return
        server, self._server = self._server, None
        server.close()
        self._stopping.set()
        self._expected.refuse_held("server_stopping")
        for expected in [e for e in self._expected if not e.attached]:
            self._drop(expected, EndReason.SERVER_STOP)
        live = set(self._connections)
        ended = 0
        if live:
            done, _ = await asyncio.wait(live, timeout=self.stop_grace)
            ended = len(done)
        cancelled = await self._owner.aclose(timeout=1.0)
        await self.clock.stop()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 1.0)
        log.info("AudioSocket server stopped", extra={"ended": ended, "cancelled": cancelled})

    # --- registration ---------------------------------------------------------------------
    def expect(
        self, call_id: str | uuid.UUID, talker: CallTalker, metadata: CallMetadata | None = None
    ) -> ExpectedCall:
        """Allow one connection for this call id; its talker runs once Asterisk attaches."""
        key = canonical(call_id)
        if self._stopping.is_set():
            raise RuntimeError("the AudioSocket server is stopping")
        metadata = metadata or CallMetadata(call_id=key)
        if canonical(metadata.call_id) != key:
            raise ValueError("metadata.call_id does not match call_id")
        kind_for_rate(metadata.sample_rate)  # refuse a rate AudioSocket cannot carry, now
        expected = ExpectedCall(metadata, talker)
        self._expected.add(expected)
        return expected

    def forget(self, call_id: str | uuid.UUID) -> bool:
        """Withdraw a call that never attached (not answered); a live session is unaffected."""
        expected = self._expected.get(call_id)
        if expected is None or expected.attached:
            return False
        self._drop(expected, EndReason.FORGOTTEN)
        return True

    def _drop(self, expected: ExpectedCall, reason: EndReason) -> None:
        self._expected.remove(expected)
        expected._finish(reason)

    # --- connections ----------------------------------------------------------------------
    def _on_connect(self, conn: _Connection) -> None:
        """Hand the connection to an owned asyncio task (asyncio's own would be untracked)."""
        if self._stopping.is_set():
            assert conn.transport is not None
            conn.transport.close()
            return
        self._seq += 1
        task = self._owner.spawn(self._serve(conn), name=f"conn-{self._seq}")
        self._connections.add(task)
        task.add_done_callback(self._connections.discard)

    async def _serve(self, conn: _Connection) -> None:
        assert conn.transport is not None
        peer = str(conn.transport.get_extra_info("peername"))
        try:
            expected = await self._attach(conn)
            await self._run_session(expected, conn)
        except AttachRefused as exc:
            self.rejections[str(exc)] += 1
            if count := self._refusal_log.due(str(exc)):
                extra = {"reason": str(exc), "peer": peer, "count": count}
                log.warning("AudioSocket connection rejected", extra=extra)
        except Exception:
            self.internal_errors += 1
            log.exception("AudioSocket connection failed", extra={"peer": peer})
        finally:
            await conn.close()

    async def _attach(self, conn: _Connection) -> ExpectedCall:
        frames = await self._read_first(conn)
        if not frames or not isinstance(frames[0], UuidFrame):
            self.protocol_errors += conn.error is not None
            raise AttachRefused("malformed_first_frame" if conn.error else "first_frame_not_uuid")
        conn.early = frames[1:]
        expected = await self._expected.claim(frames[0].call_id)
        if self._stopping.is_set():
            raise AttachRefused("server_stopping")
        return expected

    async def _read_first(self, conn: _Connection) -> list[Frame]:
        """The first frames (and any error right behind them), within first_frame_timeout."""
        try:
            async with asyncio.timeout(self.first_frame_timeout):
                await conn.arrived.wait()
        except TimeoutError:
            raise AttachRefused("no_uuid_in_time") from None
        if not conn.early and conn.error is None:
            raise AttachRefused("connection_error" if conn.reset else "eof_before_uuid")
        return conn.early

    # --- one attached call ----------------------------------------------------------------
    async def _run_session(self, expected: ExpectedCall, conn: _Connection) -> None:
        meta = expected.metadata
        audio = CallAudio(meta, PlayoutQueue(meta.sample_rate))
        expected._attach(audio)
        self.sessions_active += 1
        self.sessions_total += 1
        reason = EndReason.SERVER_STOP
        with log_context(call_id=meta.call_id, task_id=meta.task_id, user_id=meta.user_id):
            owner = TaskOwner(f"{meta.call_id}")
            try:
                log.info("AudioSocket call attached")
                talker = owner.spawn(_run_talker(expected.talker, audio), name="talker")
                reason = await self._first_to_finish(owner, talker, audio, conn)
                audio.close(reason)
                if reason is not EndReason.FAR_END_HANGUP:
                    conn.write(HANGUP)
                await conn.close()
                if not talker.done():  # its iterators have ended; let it return on its own
                    await asyncio.wait([talker], timeout=self.talker_grace)
            finally:
                audio.close(reason)
                await owner.aclose(timeout=1.0)
                self.sessions_active -= 1
                self._drop(expected, reason)
                log.info("AudioSocket call ended", extra={"reason": str(reason)})

    async def _first_to_finish(
        self, owner: TaskOwner, talker: asyncio.Task[EndReason], audio: CallAudio, conn: _Connection
    ) -> EndReason:
        assert conn.transport is not None
        paced = PacedWriter(audio.playout, self._sender(conn.transport))
        self._writers.add(paced)
        watchers = [
            owner.spawn(self._read_loop(conn, audio), name="reader"),
            owner.spawn(_run_writer(paced, self.clock), name="playout"),
            owner.spawn(_on_hangup(audio), name="hangup"),
            owner.spawn(_on_stop(self._stopping), name="stop"),
        ]
        everything = [talker, *watchers]
        done, _ = await asyncio.wait(everything, return_when=asyncio.FIRST_COMPLETED)
        reason = next(t.result() for t in everything if t in done)
        await cancel_and_wait(*watchers, timeout=1.0)
        self._writers.discard(paced)
        self._ended_playout = self._ended_playout + PlayoutTotals.of(paced)
        return reason

    def playout_totals(self) -> PlayoutTotals:
        """Frames written by every session so far (for /metrics; read at scrape time only)."""
        return sum((PlayoutTotals.of(w) for w in self._writers), self._ended_playout)

    async def _read_loop(self, conn: _Connection, audio: CallAudio) -> EndReason:
        """The connection's frames go to the talker's inbound queue (in its callback) until
        EOF, a hangup frame or bad input. No bytes for `idle_timeout` ends it, unless the
        talker expects silence (on hold)."""
        conn.attach(audio)
        reason = await self._until_quiet(conn, audio)
        if conn.failure is not None:
            self.protocol_errors += 1
            log.warning("AudioSocket protocol error", extra={"error": str(conn.failure)})
        elif reason is EndReason.STALLED:
            log.warning("AudioSocket peer silent too long", extra={"seconds": self.idle_timeout})
        return reason

    async def _until_quiet(self, conn: _Connection, audio: CallAudio) -> EndReason:
        """The connection's end, or STALLED once no bytes came for `idle_timeout`. Why a
        deadline checked against the newest bytes: a timer per frame would cost a heap
        push and cancel 50 times a second per call; this wakes once per idle_timeout."""
        idle = self.idle_timeout
        loop = asyncio.get_running_loop()
        excused = loop.time()  # the last check that found the quiet expected (on hold)
        while True:
            deadline = None if idle is None else max(conn.last_data, excused) + idle
            timeout = None if deadline is None else max(0.0, deadline - loop.time())
            await asyncio.wait([conn.ended], timeout=timeout)
            if conn.ended.done():
                return conn.ended.result()
            assert deadline is not None
            if loop.time() < deadline:
                continue  # woken a hair early
            if not audio.silence_expected:
                return EndReason.STALLED
            excused = loop.time()

    def _sender(self, transport: asyncio.Transport) -> Callable[[bytes], None]:
        """One transport write per frame; refuse to pile audio on a peer that stopped reading."""
        limit = self.max_write_buffer

        def send(frame: bytes) -> None:
            if transport.is_closing():
                raise ConnectionResetError("AudioSocket connection closed")
            if transport.get_write_buffer_size() > limit:
                raise _WriteStalled("peer is not reading")
            transport.write(frame)

        return send


def _dispatch(frames: list[Frame], audio: CallAudio, kind: Kind) -> EndReason | None:
    """Hand frames to the talker; a hangup or error frame ends the call."""
    for frame in frames:
        match frame:
            case AudioFrame(kind=k, pcm=pcm) if k == kind:
                audio.push_inbound(pcm)
            case AudioFrame(kind=k):
                raise ProtocolError(f"audio kind 0x{k:02x} does not match the call's rate")
            case DtmfFrame(digit=digit):
                audio.push_dtmf(digit)
            case HangupFrame():
                return EndReason.FAR_END_HANGUP
            case ErrorFrame(code=code):
                log.warning("AudioSocket peer sent an error", extra={"code": code.hex()})
                return EndReason.FAR_END_HANGUP
            case UuidFrame():
                raise ProtocolError("a second UUID frame")
    return None


async def _run_talker(talker: CallTalker, audio: CallAudio) -> EndReason:
    try:
        await talker.run(audio)
    except Exception:
        log.exception("talker failed")
        return EndReason.TALKER_FAILED
    return EndReason.TALKER_FINISHED


async def _run_writer(paced: PacedWriter, clock: PlayoutClock) -> EndReason:
    try:
        await paced.run(clock)
    except _WriteStalled:
        log.warning("AudioSocket peer stopped reading")
        return EndReason.STALLED
    except ConnectionError:
        return EndReason.FAR_END_HANGUP
    raise AssertionError("PacedWriter.run only ends by raising")  # pragma: no cover


async def _on_hangup(audio: CallAudio) -> EndReason:
    await audio.hangup_requested()
    return EndReason.LOCAL_HANGUP


async def _on_stop(stopping: asyncio.Event) -> EndReason:
    await stopping.wait()
    return EndReason.SERVER_STOP
