"""The AudioSocket server on port 0 against the fake Asterisk: attach, reject, end, stop."""

from __future__ import annotations

import asyncio
import struct
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from audio_processing.audio_socket_protocol import HangupFrame, Kind, encode_uuid
from audio_processing.audio_socket_server import AudioSocketServer, EndReason
from audio_processing.call_audio import CallAudio, CallMetadata
from audio_processing.expected_call import ExpectedCall
from tests.support.audiosocket_client import FakeAsterisk
from tests.support.recording_talker import RecordingTalker

HOST = "127.0.0.1"


def tone(frames: int, value: int = 1000) -> bytes:
    """Distinct non-silent 20 ms slin8 frames: frame i carries the sample value+i."""
    return b"".join(struct.pack("<h", value + i) * 160 for i in range(frames))


@pytest.fixture
async def server() -> AsyncIterator[AudioSocketServer]:
    srv = AudioSocketServer(HOST, 0, stop_grace=1.0)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


@pytest.fixture
async def clients() -> AsyncIterator[list[FakeAsterisk]]:
    made: list[FakeAsterisk] = []
    yield made
    for client in made:
        await client.close()


async def dial(
    server: AudioSocketServer, clients: list[FakeAsterisk], call_id: uuid.UUID | None = None
) -> FakeAsterisk:
    client = FakeAsterisk(HOST, server.port)
    clients.append(client)
    await client.connect(call_id)
    return client


async def attached(
    server: AudioSocketServer, clients: list[FakeAsterisk], talker: Any = None
) -> tuple[FakeAsterisk, Any, ExpectedCall]:
    call_id = uuid.uuid4()
    talker = talker or RecordingTalker()
    expected = server.expect(call_id, talker)
    client = await dial(server, clients, call_id)
    assert await asyncio.wait_for(expected.connected(), 1.0)
    return client, talker, expected


async def test_expected_call_attaches_and_audio_flows_both_ways(server, clients) -> None:
    talker = RecordingTalker(play=tone(5))
    client, _, _ = await attached(server, clients, talker)
    assert server.sessions_active == 1
    await client.stream(tone(10, value=3000))
    await client.wait_frames(20)
    assert talker.frames == [tone(10, value=3000)[i * 320 : (i + 1) * 320] for i in range(10)]
    voiced = [r.frame.pcm for r in client.audio if r.frame.pcm != bytes(320)]
    assert voiced == [tone(5)[i * 320 : (i + 1) * 320] for i in range(5)]
    assert all(r.frame.kind == Kind.SLIN8 for r in client.audio)
    assert talker.audio is not None
    assert talker.audio.played_ms("play") == 100


async def test_dtmf_reaches_the_talker(server, clients) -> None:
    client, talker, _ = await attached(server, clients)
    client.send_dtmf("7")
    client.send_dtmf("#")
    client.send_hangup()
    await asyncio.wait_for(talker.finished.wait(), 1.0)
    assert talker.digits == ["7", "#"]


async def test_24khz_call_gets_slin24_frames(server, clients) -> None:
    call_id = uuid.uuid4()
    talker = RecordingTalker(play=bytes([1, 0]) * 480 * 2)
    server.expect(call_id, talker, CallMetadata(call_id=str(call_id), sample_rate=24000))
    client = FakeAsterisk(HOST, server.port, sample_rate=24000)
    clients.append(client)
    await client.connect(call_id)
    client.send_audio(bytes(960))
    await client.wait_frames(3)
    assert {(r.frame.kind, len(r.frame.pcm)) for r in client.audio} == {(Kind.SLIN24, 960)}
    await asyncio.wait_for(talker.started.wait(), 1.0)
    assert talker.frames[:1] == [bytes(960)]


# --- rejection: closed within 100 ms and counted ----------------------------------------------
CLOSE_BOUND = 0.100


async def _rejected_within_bound(client: FakeAsterisk, t0: float) -> None:
    closed_at = await client.wait_closed(1.0)
    assert closed_at - t0 < CLOSE_BOUND, f"closed after {1000 * (closed_at - t0):.0f} ms"
    assert client.audio == []  # nothing was ever sent to a rejected peer


@pytest.mark.parametrize(
    "first_bytes",
    [
        pytest.param(encode_uuid(uuid.uuid4()), id="unknown-uuid"),
        pytest.param(b"\x10\x01\x40" + bytes(320), id="audio-before-uuid"),
        pytest.param(b"\x7e\x00\x00", id="garbage-kind"),
        pytest.param(b"\x01\x00\x05hello", id="short-uuid"),
    ],
)
async def test_bad_first_frames_are_closed_at_once_and_counted(
    server, clients, first_bytes: bytes
) -> None:
    client = await dial(server, clients)
    t0 = time.monotonic()
    client.send_raw(first_bytes)
    await _rejected_within_bound(client, t0)
    assert server.rejected_connections == 1
    assert server.sessions_total == 0


async def test_a_peer_that_says_nothing_is_closed_after_the_first_frame_timeout(
    server, clients
) -> None:
    """Not Asterisk (it writes the UUID at once), but not refused on a hair trigger either:
    under event-loop lag a real call's UUID can be late, so the wait is generous."""
    client = await dial(server, clients)
    assert client.connected_at is not None
    closed_at = await client.wait_closed(server.first_frame_timeout + 1.0)
    waited = closed_at - client.connected_at
    assert server.first_frame_timeout - 0.05 <= waited < server.first_frame_timeout + CLOSE_BOUND
    assert client.audio == []
    assert server.rejected_connections == 1


async def test_a_call_id_attaches_only_once(server, clients) -> None:
    first, _, expected = await attached(server, clients)
    second = await dial(server, clients)
    t0 = time.monotonic()
    second.send_raw(encode_uuid(uuid.UUID(expected.call_id)))
    await _rejected_within_bound(second, t0)
    assert server.rejected_connections == 1
    await first.wait_frames(len(first.received) + 3)  # the first call is unaffected
    assert first.closed_at is None
    assert server.sessions_active == 1


async def test_forgotten_call_cannot_attach_later(server, clients) -> None:
    call_id = uuid.uuid4()
    expected = server.expect(call_id, RecordingTalker())
    assert server.forget(call_id)
    assert await expected.connected() is False
    assert await expected.ended() == EndReason.FORGOTTEN
    client = await dial(server, clients, call_id)
    await client.wait_closed(1.0)
    assert server.rejected_connections == 1


# --- how a call ends ------------------------------------------------------------------------
async def test_eof_ends_the_talker(server, clients) -> None:
    client, talker, expected = await attached(server, clients)
    await client.close()
    assert await asyncio.wait_for(expected.ended(), 1.0) == EndReason.FAR_END_HANGUP
    assert talker.finished.is_set()
    assert talker.audio is not None
    assert talker.audio.end_reason == EndReason.FAR_END_HANGUP
    assert server.sessions_active == 0


async def test_hangup_frame_from_asterisk_ends_the_call_without_echoing_it(server, clients) -> None:
    client, _, expected = await attached(server, clients)
    client.send_hangup()
    assert await asyncio.wait_for(expected.ended(), 1.0) == EndReason.FAR_END_HANGUP
    await client.wait_closed(1.0)
    assert not client.got_hangup


class ReturningTalker:
    async def run(self, audio: CallAudio) -> None:
        await asyncio.sleep(0.05)


class FailingTalker:
    async def run(self, audio: CallAudio) -> None:
        raise RuntimeError("model connection failed")


class DeafTalker:
    """Ignores the end of the call; the server must cancel it after the grace."""

    cancelled = False

    async def run(self, audio: CallAudio) -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            self.cancelled = True
            raise


@pytest.mark.parametrize(
    ("talker", "reason"),
    [(ReturningTalker(), EndReason.TALKER_FINISHED), (FailingTalker(), EndReason.TALKER_FAILED)],
)
async def test_talker_ending_hangs_up_the_call(server, clients, talker, reason) -> None:
    client, _, expected = await attached(server, clients, talker)
    assert await asyncio.wait_for(expected.ended(), 1.0) == reason
    await client.wait_closed(1.0)
    assert isinstance(client.received[-1].frame, HangupFrame)
    assert server.internal_errors == 0


async def test_a_talker_that_ignores_the_end_is_cancelled_after_the_grace(clients) -> None:
    srv = AudioSocketServer(HOST, 0, talker_grace=0.1)
    await srv.start()
    try:
        talker = DeafTalker()
        client, _, expected = await attached(srv, clients, talker)
        await client.close()
        assert await asyncio.wait_for(expected.ended(), 1.0) == EndReason.FAR_END_HANGUP
        assert talker.cancelled
    finally:
        await srv.stop()


async def test_protocol_error_mid_call_closes_only_that_call(server, clients) -> None:
    client, _, expected = await attached(server, clients)
    client.send_raw(b"\x10\x00\x03abc")  # odd-length audio
    assert await asyncio.wait_for(expected.ended(), 1.0) == EndReason.PROTOCOL_ERROR
    await client.wait_closed(1.0)
    assert client.got_hangup
    assert server.protocol_errors == 1
    await attached(server, clients)  # still serving


async def test_garbage_coalesced_with_the_uuid_ends_that_call_as_a_protocol_error(
    server, clients
) -> None:
    call_id = uuid.uuid4()
    expected = server.expect(call_id, RecordingTalker())
    client = await dial(server, clients)
    client.send_raw(encode_uuid(call_id) + b"\x00\x00\x01")  # one segment: UUID + bad hangup
    assert await asyncio.wait_for(expected.ended(), 1.0) == EndReason.PROTOCOL_ERROR
    assert expected.attached
    assert server.protocol_errors == 1
    await client.wait_closed(1.0)


async def test_audio_at_the_wrong_rate_is_a_protocol_error(server, clients) -> None:
    client, _, expected = await attached(server, clients)
    client.send_raw(struct.pack(">BH", Kind.SLIN16, 640) + bytes(640))
    assert await asyncio.wait_for(expected.ended(), 1.0) == EndReason.PROTOCOL_ERROR


async def test_a_peer_silent_past_the_idle_timeout_is_ended(clients) -> None:
    srv = AudioSocketServer(HOST, 0, idle_timeout=0.2)
    await srv.start()
    try:
        client, _, expected = await attached(srv, clients)
        assert await asyncio.wait_for(expected.ended(), 1.0) == EndReason.STALLED
        await client.wait_closed(1.0)
        assert client.got_hangup
    finally:
        await srv.stop()


class OnHold(RecordingTalker):
    """Puts its call on hold (the callee may send nothing for long) until told not to."""

    def __init__(self) -> None:
        super().__init__()
        self.off_hold = asyncio.Event()

    async def run(self, audio: CallAudio) -> None:
        audio.expect_silence(True)
        await self.off_hold.wait()
        audio.expect_silence(False)
        await super().run(audio)


async def test_a_call_on_hold_outlives_the_idle_timeout_until_it_is_off_hold(clients) -> None:
    """A silent hold queue sends nothing for minutes: only a call not on hold is taken for
    dead after idle_timeout (AMI says whether the channel is still up meanwhile)."""
    srv = AudioSocketServer(HOST, 0, idle_timeout=0.2)
    await srv.start()
    try:
        talker = OnHold()
        client, _, expected = await attached(srv, clients, talker)
        await asyncio.sleep(0.8)  # four idle timeouts of silence
        assert expected.end_reason is None
        talker.off_hold.set()
        assert await asyncio.wait_for(expected.ended(), 1.0) == EndReason.STALLED
        await client.wait_closed(1.0)
    finally:
        await srv.stop()


async def test_server_stop_ends_every_session_with_hangup(clients) -> None:
    srv = AudioSocketServer(HOST, 0, stop_grace=1.0)
    await srv.start()
    calls = [await attached(srv, clients) for _ in range(3)]
    waiting = srv.expect(uuid.uuid4(), RecordingTalker())
    await srv.stop()
    for client, talker, expected in calls:
        assert await asyncio.wait_for(expected.ended(), 0.1) == EndReason.SERVER_STOP
        await client.wait_closed(1.0)
        assert isinstance(client.received[-1].frame, HangupFrame)
        assert talker.finished.is_set()
    assert await waiting.connected() is False
    assert await waiting.ended() == EndReason.SERVER_STOP
    assert srv.sessions_active == 0
    with pytest.raises(ConnectionRefusedError):  # no longer accepting
        await asyncio.open_connection(HOST, srv.port)


async def test_playout_totals_count_live_and_ended_sessions(server, clients) -> None:
    client, _, expected = await attached(server, clients, RecordingTalker(play=tone(5)))
    await client.wait_frames(10, timeout=2.0)
    live = server.playout_totals()
    assert live.frames >= 10
    assert live.frames - live.silence >= 5  # the five tone frames
    client.send_hangup()
    await asyncio.wait_for(expected.ended(), 2.0)
    ended = server.playout_totals()
    assert ended.frames >= live.frames  # an ended session's frames are kept, not lost
    assert ended.frames - ended.silence == 5
