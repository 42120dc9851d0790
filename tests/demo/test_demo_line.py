"""The simulated telephone line: its AMI messages (pure) read by the product's own parser,
then the line itself driven by the product's AMI client, with a real TCP AudioSocket
server on port 0 in the test playing OpenDeep's side of the call."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from audio_processing.audio_socket_protocol import (
    AudioFrame,
    FrameParser,
    UuidFrame,
    encode_audio,
)
from call_processor.ami import actions
from call_processor.ami import events as ami_events
from call_processor.ami.call_events import CallEvents
from call_processor.ami.client import AmiClient
from call_processor.ami.errors import AmiActionFailed
from common.stream_server import StreamServer
from launcher.demo import ami_line, voice
from launcher.demo.ami_line import BadOriginate, dialed
from launcher.demo.callees import BRIGHT_SMILE, HARBOR, DemoCallee
from launcher.demo.line import SimulatedLine

CALL_ID = "0b7f6d2e-8a51-4c3f-9d1e-2f4a6b8c0d1e"


def originate(number: str, address: str = "127.0.0.1:9092", call_id: str = CALL_ID) -> dict:
    variables = {"CALL_ID": call_id, "AUDIOSOCKET_ADDR": address}
    return actions.originate(
        call_id, f"PJSIP/{number}@demo-line", "opendeep-agent", "s", 1, 20_000, "", variables
    )


# -- pure -----------------------------------------------------------------------------------
def test_an_originate_names_the_call_its_number_and_where_to_send_the_audio() -> None:
    call = dialed(originate("442079460102", "10.0.0.5:4000"))
    assert (call.call_id, call.number, call.audiosocket) == (
        CALL_ID,
        "+442079460102",
        ("10.0.0.5", 4000),
    )
    assert call.action_id == actions.originate_action_id(CALL_ID)


@pytest.mark.parametrize(
    "broken",
    [
        {"ChannelId": ""},
        {"Variable": ["CALL_ID=x"]},
        {"Variable": ["AUDIOSOCKET_ADDR=nohost"]},
        {"Channel": "Local@nowhere"},
    ],
)
def test_an_originate_the_line_cannot_place_is_refused(broken: dict) -> None:
    with pytest.raises(BadOriginate):
        dialed({**originate("442079460102"), **broken})


def test_the_lines_events_are_what_the_products_parser_routes_to_the_call() -> None:
    call = dialed(originate("442079460101"))
    ringing = ami_events.parse_event(ami_line.newstate(call, 5))
    answered = ami_events.parse_event(ami_line.answered(call))
    up = ami_events.parse_event(ami_line.newstate(call, 6))
    ended = ami_events.parse_event(ami_line.hangup(call))
    assert isinstance(ringing, ami_events.Newstate)
    assert ringing.state == 5
    assert isinstance(answered, ami_events.OriginateResponse)
    assert (answered.success, answered.reason) == (True, 4)
    assert isinstance(up, ami_events.Newstate)
    assert up.is_up
    assert isinstance(ended, ami_events.Hangup)
    assert ended.cause == 16
    for event in (ringing, answered, up, ended):
        assert CALL_ID in ami_events.routing_keys(event)


# -- the line over TCP -----------------------------------------------------------------------
class OurSide:
    """OpenDeep's AudioSocket server, reduced to what the test watches: the UUID and the
    callee's audio; it can speak like the agent."""

    def __init__(self) -> None:
        self.call_ids: list[uuid.UUID] = []
        self.loud_frames = 0
        self.frames = 0
        self.writer: asyncio.StreamWriter | None = None
        self.ended = asyncio.Event()
        self.heard = asyncio.Event()  # set on every loud frame
        self.port = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writer, parser = writer, FrameParser()
        try:
            while data := await reader.read(4096):
                for frame in parser.feed(data):
                    if isinstance(frame, UuidFrame):
                        self.call_ids.append(frame.call_id)
                    elif isinstance(frame, AudioFrame):
                        self.frames += 1
                        if voice.rms(frame.pcm) >= 500:
                            self.loud_frames += 1
                            self.heard.set()
        finally:
            self.ended.set()  # the server closes the connection

    async def until_loud(self, frames: int, seconds: float) -> None:
        """Until the callee has said `frames` loud frames in all."""
        async with asyncio.timeout(seconds):
            while self.loud_frames < frames:
                self.heard.clear()
                await self.heard.wait()

    async def say(self, text: str) -> None:
        assert self.writer is not None
        for frame in voice.frames(voice.speech(text) + voice.silence(900)):
            self.writer.write(encode_audio(frame))
            await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def line_and_client() -> AsyncIterator[tuple[SimulatedLine, AmiClient, OurSide]]:
    ours = OurSide()
    async with StreamServer(ours.serve, "our-audiosocket") as server:
        ours.port = server.port
        async with SimulatedLine(ring_seconds=0.1) as line:
            client = AmiClient(
                "127.0.0.1", line.port, line.username, SecretStr(line.secret), action_timeout=2.0
            )
            async with client:
                await client.wait_connected(5)
                yield line, client, ours
        await asyncio.wait_for(ours.ended.wait(), 5)


async def test_a_wrong_secret_is_refused_like_asterisk_refuses_it() -> None:
    async with SimulatedLine() as line:
        client = AmiClient("127.0.0.1", line.port, line.username, SecretStr("wrong"))
        async with client:
            with pytest.raises(Exception, match="not connected"):
                await client.wait_connected(0.5)


async def call(client: AmiClient, ours: OurSide, callee: DemoCallee) -> CallEvents:
    """Originate a call to `callee` as the call initiator does; its events, from the start."""
    events = client.subscribe(CALL_ID)
    await client.originate(
        CALL_ID, f"PJSIP/{callee.number.lstrip('+')}@demo-line", "opendeep-agent", "s",
        variables={"CALL_ID": CALL_ID, "AUDIOSOCKET_ADDR": f"127.0.0.1:{ours.port}"},
    )  # fmt: skip
    return events


async def first_line_then_quiet(ours: OurSide, callee: DemoCallee) -> int:
    """Wait out the callee's first line; it says nothing more on its own. Its loud frames."""
    await asyncio.sleep(voice.speech_ms(callee.exchanges[0].callee.text) / 1000 + 1.5)
    said = ours.loud_frames
    await asyncio.sleep(1.0)
    assert ours.loud_frames == said
    return said


async def test_a_call_rings_is_answered_speaks_and_hangs_up_when_asked() -> None:
    async with line_and_client() as (line, client, ours):
        events = await call(client, ours, HARBOR)
        kinds = [type(await events.get(5)).__name__ for _ in range(3)]
        assert kinds == ["Newstate", "OriginateResponse", "Newstate"]
        await ours.until_loud(20, 10)  # the receptionist's greeting
        assert ours.call_ids == [uuid.UUID(CALL_ID)]
        await client.hangup(CALL_ID)
        hangup = await events.get(5)
        assert isinstance(hangup, ami_events.Hangup)
        await asyncio.wait_for(ours.ended.wait(), 5)  # the socket closed: EOF, as Asterisk
        assert CALL_ID not in line.calls
        with pytest.raises(AmiActionFailed):
            await client.hangup(CALL_ID)  # gone: "No such channel"


async def test_the_menu_waits_for_its_key_then_connects_to_reception() -> None:
    async with line_and_client() as (_line, client, ours):
        await call(client, ours, BRIGHT_SMILE)
        said = await first_line_then_quiet(ours, BRIGHT_SMILE)  # the menu waits for a key
        await client.play_dtmf(CALL_ID, "1")
        await ours.until_loud(said + 20, 5)  # "Please hold while we connect you."


async def test_the_receptionist_answers_only_after_the_agent_has_spoken() -> None:
    async with line_and_client() as (_line, client, ours):
        await call(client, ours, HARBOR)
        said = await first_line_then_quiet(ours, HARBOR)  # waiting for the agent
        await ours.say("Hello Maya, could I book a cleaning?")
        await ours.until_loud(said + 20, 5)  # "Of course. I can do Wednesday..."
