"""The Asterisk sandbox end to end: real AMI, real SIP/RTP loopback, real AudioSocket.

These tests pin down what every other integration test relies on: the production
[opendeep-agent] dialplan connects an answered call to our AudioSocket address with the
call's UUID, the far end's scenarios behave as numbered, and they write down what they
received. The AudioSocket peer here is deliberately bare (no product code).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import struct
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from common.owned_tasks import TaskOwner
from common.stream_server import StreamServer
from tests.support import sandbox as scenarios
from tests.support.raw_ami import AmiMessage, RawAmi, event_is, variables
from tests.support.sandbox import FarEndResult, Sandbox

pytestmark = pytest.mark.sandbox

KIND_UUID = 0x01
KIND_AUDIO = 0x10
FRAME_SECONDS = 0.020
SILENCE = struct.pack(">BH", KIND_AUDIO, 320) + bytes(320)
SLIN_BYTES_PER_SECOND = 16000


def _tone_frame(hertz: int = 400, amplitude: int = 8000) -> bytes:
    """One 20 ms 8 kHz frame of a sine that repeats seamlessly (400 Hz = 8 cycles)."""
    samples = [round(amplitude * math.sin(2 * math.pi * hertz * n / 8000)) for n in range(160)]
    return struct.pack(">BH", KIND_AUDIO, 320) + struct.pack("<160h", *samples)


def rms(pcm: bytes) -> float:
    count = len(pcm) // 2
    if count == 0:
        return 0.0
    samples = struct.unpack(f"<{count}h", pcm[: count * 2])
    return math.sqrt(sum(s * s for s in samples) / count)


TONE = _tone_frame()


@dataclass
class PeerCall:
    """What one AudioSocket connection delivered to the bare peer."""

    call_uuid: uuid.UUID | None = None
    audio: bytearray = field(default_factory=bytearray)
    frames: int = 0
    first_audio: asyncio.Event = field(default_factory=asyncio.Event)
    audio_arrived: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    def audio_seconds(self) -> float:
        return len(self.audio) / SLIN_BYTES_PER_SECOND

    async def wait_audio(self, seconds: float, timeout: float) -> None:
        """Until at least `seconds` of audio has arrived."""
        async with asyncio.timeout(timeout):
            while self.audio_seconds() < seconds:
                self.audio_arrived.clear()
                await self.audio_arrived.wait()

    async def wait_quiet(self, seconds: float, timeout: float) -> None:
        """Until no audio frame has arrived for `seconds` (the far end has gone silent)."""
        async with asyncio.timeout(timeout):
            while True:
                self.audio_arrived.clear()
                try:
                    await asyncio.wait_for(self.audio_arrived.wait(), seconds)
                except TimeoutError:
                    return


class BareAudioSocketPeer:
    """An AudioSocket server on port 0 that records what arrives and sends audio back.

    Asterisk hangs the call up after 2 s without traffic either way, so by default the
    peer sends a 20 ms frame (silence, or a tone) on a monotonic schedule for as long as
    the connection lives; `outgoing=None` sends nothing, to show that trap.
    """

    def __init__(self, outgoing: bytes | None = SILENCE) -> None:
        self.outgoing = outgoing
        self.calls: asyncio.Queue[PeerCall] = asyncio.Queue()
        self._tasks = TaskOwner("bare-audiosocket-senders")
        self._server = StreamServer(self._serve, "bare-audiosocket")
        self.port = 0

    async def start(self) -> None:
        await self._server.start()
        self.port = self._server.port

    async def aclose(self) -> None:
        await self._server.stop(timeout=2.0)
        await self._tasks.aclose(timeout=2.0)

    async def next_call(self, timeout: float = 10.0) -> PeerCall:
        async with asyncio.timeout(timeout):
            return await self.calls.get()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        call = PeerCall()
        sender = None
        if self.outgoing is not None:
            sender = self._tasks.spawn(self._send_audio(writer, self.outgoing), "sender")
        try:
            await self._receive(reader, call)
        finally:
            if sender is not None:
                sender.cancel()
            call.ended.set()

    async def _receive(self, reader: asyncio.StreamReader, call: PeerCall) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                kind, length = struct.unpack(">BH", await reader.readexactly(3))
                payload = await reader.readexactly(length) if length else b""
                if kind == KIND_UUID:
                    call.call_uuid = uuid.UUID(bytes=payload)
                    self.calls.put_nowait(call)  # the UUID always comes first
                elif kind == KIND_AUDIO:
                    call.audio += payload
                    call.frames += 1
                    call.first_audio.set()
                    call.audio_arrived.set()

    async def _send_audio(self, writer: asyncio.StreamWriter, frame: bytes) -> None:
        next_at = time.monotonic()
        with contextlib.suppress(ConnectionError):
            while not writer.is_closing():
                writer.write(frame)
                next_at += FRAME_SECONDS
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))


@contextlib.asynccontextmanager
async def running_peer(outgoing: bytes | None = SILENCE) -> AsyncIterator[BareAudioSocketPeer]:
    server = BareAudioSocketPeer(outgoing)
    await server.start()
    try:
        yield server
    finally:
        await server.aclose()


@pytest.fixture
async def peer() -> AsyncIterator[BareAudioSocketPeer]:
    async with running_peer() as server:
        yield server


@dataclass(frozen=True)
class Dialed:
    call_id: str
    token: str
    action_id: str


async def originate(
    ami: RawAmi,
    sandbox: Sandbox,
    scenario: str,
    audiosocket_port: int,
    timeout_ms: int = 15000,
) -> Dialed:
    """Originate like production: into the agent context, CALL_ID and ChannelId = UUID."""
    call_id, token = str(uuid.uuid4()), sandbox.new_token()
    action_id = f"orig-{call_id}"
    fields = {
        "Channel": sandbox.channel(scenario, token),
        "Context": sandbox.agent_context,
        "Exten": sandbox.agent_exten,
        "Priority": "1",
        "Timeout": str(timeout_ms),
        "ChannelId": call_id,
        "Variable": variables(
            {"CALL_ID": call_id, "AUDIOSOCKET_ADDR": f"127.0.0.1:{audiosocket_port}"}
        ),
        "Async": "true",
    }
    response = await ami.action("Originate", fields, action_id=action_id)
    assert response["Response"] == "Success"
    return Dialed(call_id, token, action_id)


async def originate_response(ami: RawAmi, dialed: Dialed, timeout: float = 20.0) -> AmiMessage:
    return await ami.wait_event(
        event_is("OriginateResponse", ActionID=dialed.action_id), timeout=timeout
    )


async def hang_up(ami: RawAmi, dialed: Dialed) -> None:
    # ChannelId made the channel's Uniqueid our call id, and Hangup accepts a Uniqueid.
    await ami.action("Hangup", {"Channel": dialed.call_id, "Cause": "16"})


def hung_up(result: FarEndResult) -> bool:
    return result.has("hangup")


async def test_sandbox_runs_asterisk_22_and_accepts_the_opendeep_ami_user(
    asterisk_sandbox: Sandbox, ami: RawAmi
) -> None:
    version = asterisk_sandbox.version()
    assert version.startswith("Asterisk 22."), version
    assert ami.banner.startswith("Asterisk Call Manager/11.")
    # FullyBooted after login proves the read class includes "system" and boot finished.
    await ami.wait_event(event_is("FullyBooted"), timeout=5)


async def test_answered_call_streams_the_far_end_prompt_to_audiosocket(
    asterisk_sandbox: Sandbox, ami: RawAmi, peer: BareAudioSocketPeer
) -> None:
    dialed = await originate(ami, asterisk_sandbox, scenarios.PERSON, peer.port)
    answered = await originate_response(ami, dialed)
    assert (answered["Response"], answered["Reason"]) == ("Success", "4")
    assert answered["Uniqueid"] == dialed.call_id

    call = await peer.next_call()
    assert call.call_uuid == uuid.UUID(dialed.call_id)
    # The far end writes "silent" once its last prompt has been played out over RTP.
    done = await asterisk_sandbox.wait_far_end(dialed.token, lambda r: r.has("silent"), 20)
    await call.wait_quiet(seconds=0.6, timeout=5)

    expected = sum(asterisk_sandbox.prompt_seconds(p) for p in done.played)
    assert done.played == ["hello-world", "tt-weasels"]
    assert call.audio_seconds() == pytest.approx(expected, rel=0.10)

    await hang_up(ami, dialed)
    result = await asterisk_sandbox.wait_far_end(dialed.token, hung_up, 10)
    assert result.duration is not None
    assert result.duration >= expected
    async with asyncio.timeout(5):
        await call.ended.wait()  # Asterisk closes the socket (EOF) when the call ends


@pytest.mark.parametrize(
    ("scenario", "cause", "far_end_word"),
    [(scenarios.BUSY, "17", "busy"), (scenarios.CONGESTION, "34", "congestion")],
)
async def test_busy_and_congestion_show_in_the_hangup_cause_not_the_originate_reason(
    asterisk_sandbox: Sandbox,
    ami: RawAmi,
    peer: BareAudioSocketPeer,
    scenario: str,
    cause: str,
    far_end_word: str,
) -> None:
    """A SIP 486/503 reaches Asterisk's dialer as a hangup, not as a BUSY/CONGESTION frame.

    So with PJSIP (22.10) OriginateResponse says Failure with Reason 0, and only the
    channel's Hangup event (Uniqueid = our ChannelId, possibly after the
    OriginateResponse) carries the cause: 17 user busy, 34 congestion. Reason 5/8 only
    appear with channel drivers that queue those control frames.
    """
    dialed = await originate(ami, asterisk_sandbox, scenario, peer.port)
    response = await originate_response(ami, dialed)
    assert (response["Response"], response["Reason"]) == ("Failure", "0")
    hangup = await ami.wait_event(event_is("Hangup", Uniqueid=dialed.call_id), timeout=5)
    assert hangup["Cause"] == cause
    result = await asterisk_sandbox.wait_far_end(dialed.token, hung_up, 5)
    assert result.words() == [far_end_word, "hangup"]
    assert result.answered_at is None
    assert peer.calls.empty()


async def test_unanswered_callee_gives_originate_reason_3_at_our_timeout(
    asterisk_sandbox: Sandbox, ami: RawAmi, peer: BareAudioSocketPeer
) -> None:
    dialed = await originate(ami, asterisk_sandbox, scenarios.NO_ANSWER, peer.port, timeout_ms=2000)
    response = await originate_response(ami, dialed, timeout=10)
    assert (response["Response"], response["Reason"]) == ("Failure", "3")
    hangup = await ami.wait_event(event_is("Hangup", Uniqueid=dialed.call_id), timeout=5)
    assert hangup["Cause"] == "19"  # no answer
    result = await asterisk_sandbox.wait_far_end(dialed.token, hung_up, 5)
    assert result.words() == ["ringing", "hangup"]
    assert result.duration == 0


async def test_ivr_writes_down_a_digit_sent_with_playdtmf(
    asterisk_sandbox: Sandbox, ami: RawAmi, peer: BareAudioSocketPeer
) -> None:
    dialed = await originate(ami, asterisk_sandbox, scenarios.IVR, peer.port)
    call = await peer.next_call(timeout=15)
    async with asyncio.timeout(10):
        await call.first_audio.wait()  # the menu prompt is playing: Read() is listening

    await ami.action("PlayDTMF", {"Channel": dialed.call_id, "Digit": "7", "Duration": "250"})

    result = await asterisk_sandbox.wait_far_end(dialed.token, hung_up, 15)
    assert result.digits == ["7"]
    assert result.played == ["vm-enter-num-to-call", "you-entered"]
    assert not result.has("timeout")


async def test_callee_hanging_up_at_once_ends_our_audiosocket_with_eof(
    asterisk_sandbox: Sandbox, ami: RawAmi, peer: BareAudioSocketPeer
) -> None:
    dialed = await originate(ami, asterisk_sandbox, scenarios.HANGS_UP, peer.port)
    response = await originate_response(ami, dialed)
    assert (response["Response"], response["Reason"]) == ("Success", "4")
    hangup = await ami.wait_event(event_is("Hangup", Uniqueid=dialed.call_id), timeout=10)
    assert hangup["Cause"] == "16"  # normal clearing
    result = await asterisk_sandbox.wait_far_end(dialed.token, hung_up, 5)
    assert result.words() == ["answered", "hangup"]


async def test_transfer_target_writes_down_that_it_was_reached(
    asterisk_sandbox: Sandbox, ami: RawAmi, peer: BareAudioSocketPeer
) -> None:
    dialed = await originate(ami, asterisk_sandbox, scenarios.TRANSFER_TARGET, peer.port)
    result = await asterisk_sandbox.wait_far_end(dialed.token, lambda r: r.reached, 10)
    assert result.answered_at is not None
    await hang_up(ami, dialed)
    await asterisk_sandbox.wait_far_end(dialed.token, hung_up, 10)


async def test_echo_callee_returns_our_audio(asterisk_sandbox: Sandbox, ami: RawAmi) -> None:
    async with running_peer(outgoing=TONE) as tone_peer:
        dialed = await originate(ami, asterisk_sandbox, scenarios.ECHO, tone_peer.port)
        call = await tone_peer.next_call()
        await call.wait_audio(seconds=1.0, timeout=10)
        await hang_up(ami, dialed)
    # The tone went out as mu-law over RTP and came back; the last 0.5 s is steady state.
    assert rms(bytes(call.audio[-SLIN_BYTES_PER_SECOND // 2 :])) > 1000


async def test_audiosocket_hangs_up_a_silent_call_when_we_send_nothing(
    asterisk_sandbox: Sandbox, ami: RawAmi
) -> None:
    """The 2 s trap: the silent callee would stay 8 s, but with no traffic either way
    AudioSocket gives up after 2 s. (The other tests' peer sends silence to avoid this.)"""
    async with running_peer(outgoing=None) as mute_peer:
        dialed = await originate(ami, asterisk_sandbox, scenarios.SILENT, mute_peer.port)
        call = await mute_peer.next_call()
        result = await asterisk_sandbox.wait_far_end(dialed.token, hung_up, 12)
    assert call.frames == 0
    assert result.duration is not None
    # Ended by AudioSocket's 2 s timer, not the callee's own 8 s. The far end stamps
    # "answered" from a forked shell, so under load the stamp is late and the span short.
    assert 1.0 < result.duration < 6.0


async def test_voicemail_greets_beeps_and_records_what_we_say(
    asterisk_sandbox: Sandbox, ami: RawAmi
) -> None:
    async with running_peer(outgoing=TONE) as tone_peer:
        dialed = await originate(ami, asterisk_sandbox, scenarios.VOICEMAIL, tone_peer.port)
        await asterisk_sandbox.wait_far_end(dialed.token, lambda r: r.has("recording"), 15)
        await asyncio.sleep(1.0)  # one second of tone into the recording
        await hang_up(ami, dialed)
        result = await asterisk_sandbox.wait_far_end(dialed.token, hung_up, 10)
    assert result.played == ["vm-intro", "beep"]
    message = asterisk_sandbox.results_dir / f"{dialed.token}-message.wav"
    seconds = (message.stat().st_size - 44) / SLIN_BYTES_PER_SECOND  # 8 kHz 16-bit WAV
    assert 0.5 < seconds < 2.0
