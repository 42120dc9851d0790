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
import sys
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Protocol, cast

from audio_processing.audio_socket_protocol import (
    AudioFrame,
    DtmfFrame,
    ErrorFrame,
    Frame,
    HangupFrame,
    Kind,
    ProtocolError,
    UuidFrame,
    kind_for_rate,
)
from audio_processing.call_audio import (
    CallAudio,
    CallMetadata,
    CallTalker,
    EndReason,
    first_batch,
)
from audio_processing.expected_call import AttachRefused, ExpectedCall, ExpectedCalls, canonical
from audio_processing.media_websocket_protocol import either_wire
from audio_processing.playout import (
    FRAME_SECONDS,
    AheadWriter,
    PacedWriter,
    PlayoutClock,
    PlayoutQueue,
    PlayoutTotals,
)
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


class MediaCodec(Protocol):
    """One connection's wire (audio_socket_protocol.AudioSocketCodec, or
    media_websocket_protocol.MediaWebSocketCodec for Asterisk's chan_websocket)."""

    @property
    def ahead(self) -> bool:
        """Asterisk owns the playout clock, so audio may be sent ahead of it."""
        ...

    def feed(self, data: bytes) -> list[Frame]: ...
    def reply(self) -> bytes: ...
    def frame_bytes(self, sample_rate: int) -> int | None: ...
    def audio(self, pcm: bytes) -> bytes: ...
    def command(self, text: str) -> bytes: ...
    def hangup(self) -> bytes: ...


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

    def __init__(
        self, on_made: Callable[[_Connection], None], wire: Callable[[bytes], MediaCodec]
    ) -> None:
        self._on_made = on_made
        self.transport: asyncio.Transport | None = None
        self._wire = wire
        self.codec: MediaCodec | None = None  # chosen by the first bytes (the wire)
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
        self._socket: socket.socket | None = None  # for SO_RCVLOWAT (batched reads)
        self._batch_lowat = 0  # bytes the kernel gathers before a read; 0: not batched
        self._lowat = 1  # what SO_RCVLOWAT is now
        self._rebatch = False  # the next read sets SO_RCVLOWAT back to _batch_lowat
        self._quiet_after = 0.0  # no bytes this long (more than a batch takes): unstick
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
            self._socket = sock
        self._on_made(self)

    def data_received(self, data: bytes) -> None:
        self.last_data = self._loop.time()
        if self._rebatch:
            self._rebatch = False
            self._set_lowat(self._batch_lowat)
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

    # --- batched reads ---------------------------------------------------------------------
    def batch_reads(self, frame_bytes: int, frames: int, first: int) -> bool:
        """Have the kernel wake us once `frames` frames are waiting (`first` the first
        time) instead of once per frame; False if the socket cannot (then nothing changed).

        Why: a read per 20 ms frame is 50 wake-ups a second per call, and the model gets
        the caller's audio a batch at a time anyway, so a batch gathered by the kernel
        (SO_RCVLOWAT) reaches it no later (docs/architecture.md, Caller audio to the
        model). A threshold half a frame short of the batch: a read never waits for the
        frame after it."""
        self._batch_lowat = frames * frame_bytes - frame_bytes // 2
        self._quiet_after = (frames + 1) * FRAME_SECONDS
        if not self._set_lowat(first * frame_bytes - frame_bytes // 2):
            self._batch_lowat = 0
            return False
        self._rebatch = True
        return True

    def unstick(self, now: float) -> None:
        """The far end has sent nothing for a batch and a frame: hand over what the kernel
        holds now (the end of a talk spurt, a DTMF digit) instead of waiting for a batch
        that is not coming; batching resumes at the next read. (Linux wakes a reader whose
        SO_RCVLOWAT drops below what is queued, since 4.18.)"""
        if self._lowat > 1 and now - self.last_data > self._quiet_after and self._set_lowat(1):
            self._rebatch = True

    def _set_lowat(self, size: int) -> bool:
        sock = self._socket
        if sock is None or self.is_closing:
            return False
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, size)
        except (OSError, AttributeError):
            return False
        self._lowat = size
        return True

    def _feed_early(self, data: bytes) -> None:
        codec = self.codec
        if codec is None:
            if not data:
                return
            codec = self.codec = self._wire(data)
        try:
            self.early += codec.feed(data)
            self._reply(codec)
        except ProtocolError as exc:
            self._reply(codec)
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
        codec = self.codec  # chosen by the first bytes, so set once a call attached
        assert codec is not None
        try:
            frames = codec.feed(data)
        except ProtocolError as exc:
            self._reply(codec)
            self._end_with(exc)
            return
        self._reply(codec)
        self._hand_over(frames)

    @property
    def wire_codec(self) -> MediaCodec:
        """The connection's codec; set by its first bytes, so always once a call attached."""
        assert self.codec is not None
        return self.codec

    def _reply(self, codec: MediaCodec) -> None:
        """What the wire owes the peer (a WebSocket handshake answer, a pong); AudioSocket
        owes nothing."""
        if reply := codec.reply():
            self.write(reply)

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
        wire: Callable[[bytes], MediaCodec] = either_wire,
        read_batch_frames: int = 1,
    ) -> None:
        """`first_frame_timeout`: Asterisk writes the UUID right after connecting, so a
        peer silent for longer is not Asterisk. Not tighter: with the event loop lagging
        under load an expired timer can run before the read that holds a real call's UUID
        (a reused UUID is refused the moment it arrives, whatever this is).
        `idle_timeout`: a live call with no inbound bytes for this long is dead.
        `announce_wait`: how long an unknown UUID waits for its inbound announcement
        (0: refused at once, as when no inbound calls are taken), `max_unannounced` at once.
        `wire`: the codec for a connection, given its first bytes; by default they pick
        AudioSocket or Asterisk's media WebSocket (media_websocket_protocol.either_wire).
        `read_batch_frames`: caller frames the kernel gathers per read once a call is
        attached (the talker's batch to the model; 1: a read per frame), on a wire whose
        frames have a known size (both, `MediaCodec.frame_bytes`)."""
        self.wire = wire
        self.read_batch_frames = read_batch_frames
        self._batched: set[_Connection] = set()  # connections whose reads are batched
        self._read_watch: asyncio.Task[None] | None = None
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
            lambda: _Connection(self._on_connect, self.wire),
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
                self._batch_reads(conn, audio)  # before the talker reads inbound_hold
                talker = owner.spawn(_run_talker(expected.talker, audio), name="talker")
                reason = await self._first_to_finish(owner, talker, audio, conn)
                audio.close(reason)
                if reason is not EndReason.FAR_END_HANGUP:
                    conn.write(conn.wire_codec.hangup())
                await conn.close()
                if not talker.done():  # its iterators have ended; let it return on its own
                    await asyncio.wait([talker], timeout=self.talker_grace)
            finally:
                audio.close(reason)
                await owner.aclose(timeout=1.0)
                self._batched.discard(conn)
                self.sessions_active -= 1
                self._drop(expected, reason)
                log.info("AudioSocket call ended", extra={"reason": str(reason)})

    async def _first_to_finish(
        self, owner: TaskOwner, talker: asyncio.Task[EndReason], audio: CallAudio, conn: _Connection
    ) -> EndReason:
        assert conn.transport is not None
        paced = self._writer(audio.playout, conn)
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

    def _batch_reads(self, conn: _Connection, audio: CallAudio) -> None:
        """Batched reads for this call, if the wire and the socket allow; the talker is
        told how long frames may then wait (`CallAudio.inbound_hold`), before it starts.
        Linux only: lowering SO_RCVLOWAT to hand over what a quiet far end left (unstick)
        wakes the reader there; elsewhere a DTMF frame could wait for the next audio."""
        frames, meta = self.read_batch_frames, audio.metadata
        size = conn.wire_codec.frame_bytes(meta.sample_rate)
        if frames < 2 or size is None or sys.platform != "linux":
            return
        if not conn.batch_reads(size, frames, first_batch(meta.call_id, frames)):
            return
        audio.inbound_hold = (frames + 2) * FRAME_SECONDS  # see _unstick_quiet_reads
        self._batched.add(conn)
        if self._read_watch is None or self._read_watch.done():
            self._read_watch = self._owner.spawn(self._unstick_quiet_reads(), "batched-reads")

    async def _unstick_quiet_reads(self) -> None:
        """Every frame period, hand over what a quiet far end left in the kernel: one
        task for every batched call, not a timer per call. A frame waits at most a batch
        and two frame periods (`CallAudio.inbound_hold`)."""
        loop = asyncio.get_running_loop()
        while self._batched:
            await asyncio.sleep(FRAME_SECONDS)
            now = loop.time()
            for conn in self._batched:
                conn.unstick(now)

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

    def _writer(self, queue: PlayoutQueue, conn: _Connection) -> PacedWriter | AheadWriter:
        """Our own 20 ms pacing for AudioSocket; for a wire whose far end keeps the clock,
        audio goes ahead in chunks and a barge-in flush is a command (FLUSH_MEDIA)."""
        assert conn.transport is not None
        send = self._sender(conn.transport)
        codec = conn.wire_codec
        if not codec.ahead:
            return PacedWriter(queue, send)
        return AheadWriter(
            queue,
            lambda pcm: send(codec.audio(pcm)),
            lambda: send(codec.command("FLUSH_MEDIA")),
        )

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
