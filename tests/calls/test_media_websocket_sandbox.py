"""Calls placed with AUDIOSOCKET_TRANSPORT=websocket through the real Asterisk sandbox: the
dialplan hands the answered callee to Dial(WebSocket/opendeep-media/...), Asterisk connects
to our media port, keeps the 20 ms clock for what we send ahead, and drops it on FLUSH_MEDIA.

The echo callee (210) sends back what it hears, so the audio that returns is what a person
on the line would have heard from us, at the pace they heard it.
"""

from __future__ import annotations

import asyncio
import math
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from audio_processing.call_audio import CallAudio
from call_processor.call_initiator import CallRequest
from call_processor.finished_call import EndedBy, FinishedCall
from common.commands import Hangup
from database.repositories import calls
from database.states import CallStatus
from tests.calls.conftest import ClosableRecorder, call_stack, wait_until
from tests.support import sandbox as sb
from tests.support.sandbox import FarEndResult, Sandbox

pytestmark = pytest.mark.sandbox

RATE = 8000


def tone(seconds: float, hz: float = 440.0, amplitude: int = 8000) -> bytes:
    n = int(seconds * RATE)
    return b"".join(
        struct.pack("<h", int(amplitude * math.sin(2 * math.pi * hz * i / RATE))) for i in range(n)
    )


def rms(frame: bytes) -> float:
    samples = struct.unpack(f"<{len(frame) // 2}h", frame)
    return math.sqrt(sum(s * s for s in samples) / max(1, len(samples)))


class TimedTalker(ClosableRecorder):
    """Plays `play` (marked "tone"), flushes it `flush_after` seconds after its first frame
    played if set, and stamps every inbound frame with its arrival time."""

    def __init__(
        self, play: bytes, flush_after: float | None = None, quiet_first: float = 0.0
    ) -> None:
        super().__init__(play=play, mark="tone")
        self.flush_after = flush_after
        self.quiet_first = quiet_first
        self.arrivals: list[tuple[float, bytes]] = []
        self.first_played: float | None = None
        self.playing = asyncio.Event()
        self.flushed_ms = 0

    async def run(self, audio: CallAudio) -> None:
        self.audio = audio
        self.started.set()
        audio.playout.on_first_frame("tone", self._first_frame)
        asyncio.get_running_loop().call_later(self.quiet_first, audio.enqueue, self.play, "tone")
        flushing = asyncio.ensure_future(self._flush_later(audio))
        try:
            async for frame in audio.inbound():
                self.arrivals.append((time.monotonic(), frame))
        finally:
            flushing.cancel()
            self.finished.set()

    def _first_frame(self) -> None:
        self.first_played = time.monotonic()
        self.playing.set()

    async def _flush_later(self, audio: CallAudio) -> None:
        if self.flush_after is None:
            return
        await self.playing.wait()
        await asyncio.sleep(self.flush_after)
        self.flushed_ms = audio.flush()

    def voiced(self) -> list[float]:
        """Arrival times of the frames that carry our tone back."""
        return [t for t, frame in self.arrivals if rms(frame) > 500]


@dataclass
class Talkers:
    play: bytes
    flush_after: float | None = None
    quiet_first: float = 0.0
    made: dict[str, TimedTalker] = field(default_factory=dict)

    async def prepare(self, request: CallRequest, call_id: str) -> TimedTalker:
        self.made[call_id] = TimedTalker(self.play, self.flush_after, self.quiet_first)
        return self.made[call_id]


async def run_echo_call(
    sandbox: Sandbox, tmp_path: Path, talkers: Talkers, listen: float
) -> tuple[TimedTalker, FinishedCall, FarEndResult]:
    """One call to the echo callee over chan_websocket, hung up by us after `listen` s."""
    async with call_stack(
        sandbox, tmp_path, make_talkers=lambda _p: talkers, transport="websocket"
    ) as stack:
        token = Sandbox.new_token()
        placing = stack.place(stack.request(sb.ECHO, token))
        await wait_until(lambda: len(talkers.made) == 1, timeout=15)
        call_id, talker = next(iter(talkers.made.items()))
        await wait_until(lambda: talker.first_played is not None, timeout=15)
        await asyncio.sleep(listen)
        await stack.bus.publish(call_id, Hangup(reason="test done"))
        result = await asyncio.wait_for(placing, 15)
        far = await sandbox.wait_far_end(token, lambda r: r.has("hangup"), timeout=10)
        return talker, result, far


def assert_heard_whole(
    talker: TimedTalker, seconds: float, *, length_within: float, span_within: float
) -> None:
    voiced = talker.voiced()
    # All of the tone came back (the callee heard every frame we sent ahead) ...
    assert len(voiced) * 0.02 == pytest.approx(seconds, abs=length_within)
    # ... spread over its length: Asterisk played it at 20 ms, not in one burst.
    assert voiced[-1] - voiced[0] == pytest.approx(seconds, abs=span_within)
    assert talker.audio is not None
    assert talker.audio.played_ms("tone") == round(seconds * 1000)


async def test_audio_sent_ahead_is_heard_whole_at_asterisks_pace(
    asterisk_sandbox: Sandbox, tmp_path: Path
) -> None:
    talkers = Talkers(play=tone(2.0))
    talker, result, far = await run_echo_call(asterisk_sandbox, tmp_path, talkers, listen=3.5)
    assert result.status == CallStatus.COMPLETED
    assert result.answered
    assert far.has("hangup")
    assert_heard_whole(talker, 2.0, length_within=0.3, span_within=0.4)


async def test_a_quiet_agent_still_sends_the_callee_media_and_speech_after_it_is_heard_whole(
    asterisk_sandbox: Sandbox, tmp_path: Path
) -> None:
    """With an empty queue chan_websocket sends the callee no RTP; the writer's silence keeps
    it flowing (the echo callee returns only what reaches it), and the FLUSH_MEDIA before
    the speech takes back the silence still queued, so all of the speech is heard."""
    talkers = Talkers(play=tone(1.0), quiet_first=2.0)
    talker, result, _ = await run_echo_call(asterisk_sandbox, tmp_path, talkers, listen=2.5)
    assert result.status == CallStatus.COMPLETED
    assert talker.first_played is not None
    before = [t for t, _ in talker.arrivals if t < talker.first_played]
    # Two quiet seconds less the answer: about 75 frames of our silence came back.
    assert len(before) > 40, f"{len(before)} frames came back while we were quiet"
    ended = talker.voiced()[-1]
    after = [t for t, _ in talker.arrivals if t > ended + 0.3]
    assert len(after) > 30, f"{len(after)} frames came back once the speech had ended"
    assert_heard_whole(talker, 1.0, length_within=0.2, span_within=0.3)


async def test_a_barge_in_flush_stops_what_asterisk_had_queued(
    asterisk_sandbox: Sandbox, tmp_path: Path
) -> None:
    talkers = Talkers(play=tone(5.0), flush_after=1.0)
    talker, result, _ = await run_echo_call(asterisk_sandbox, tmp_path, talkers, listen=3.0)
    assert result.status == CallStatus.COMPLETED
    assert talker.flushed_ms > 3000  # most of the five seconds was still to play
    voiced = len(talker.voiced()) * 0.02
    # The callee heard about the one second before the flush, not the five sent ahead.
    assert 0.6 < voiced < 1.8, f"{voiced:.2f} s of tone came back"
    assert talker.audio is not None
    assert talker.audio.played_ms("tone") == pytest.approx(1000, abs=200)


async def test_a_far_end_hangup_ends_the_websocket_call(
    asterisk_sandbox: Sandbox, tmp_path: Path
) -> None:
    talkers = Talkers(play=tone(0.5))
    async with call_stack(
        asterisk_sandbox, tmp_path, make_talkers=lambda _p: talkers, transport="websocket"
    ) as stack:
        token = Sandbox.new_token()
        result = await asyncio.wait_for(stack.place(stack.request(sb.HANGS_UP, token)), 30)
        assert result.answered
        assert result.ended_by is EndedBy.FAR_END
        assert stack.audio_server.sessions_total == 1
        assert stack.audio_server.sessions_active == 0


async def test_a_client_entry_asterisk_does_not_have_is_named_when_the_call_ends(
    asterisk_sandbox: Sandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    talkers = Talkers(play=tone(0.5))
    async with call_stack(
        asterisk_sandbox,
        tmp_path,
        make_talkers=lambda _p: talkers,
        transport="websocket",
        websocket_client="opendeep-nowhere",
    ) as stack:
        token = Sandbox.new_token()
        result = await asyncio.wait_for(stack.place(stack.request(sb.PERSON, token)), 30)
        assert result.call_id is not None
        async with stack.sessions() as s:
            events = await calls.list_events(s, user_id=stack.user_id, call_id=result.call_id)
        kinds = [e.kind for e in events]
    assert result.answered
    assert "media_not_connected" in kinds
    assert stack.audio_server.sessions_total == 0
    assert "chan_websocket client opendeep-nowhere" in caplog.text
