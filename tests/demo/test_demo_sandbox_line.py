"""The demo's sandbox line: its pure parts (which line, the dial string, the number the far
end writes into the UUID), then real SIP calls through the Asterisk sandbox to the demo's
callee server, placed by the product's AMI client with a TCP AudioSocket server in the
test playing OpenDeep's side of the call."""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from audio_processing.audio_socket_protocol import encode_audio
from call_processor.ami import events as ami_events
from call_processor.ami.client import AmiClient
from common.owned_tasks import cancel_and_wait
from common.stream_server import StreamServer
from launcher.demo import sandbox_line, voice
from launcher.demo.callee_server import CalleeServer
from launcher.demo.callees import BRIGHT_SMILE, HARBOR, OAK_STREET, DemoCallee
from launcher.demo.lines import SandboxUnavailable, open_line
from launcher.demo.sandbox_line import LineMode, Machine, channel_template, choose
from launcher.demo.sandbox_line import number_in_call_id as number_in
from tests.demo.test_demo_line import OurSide, first_line_then_quiet

ROOT = Path(__file__).resolve().parents[2]
ABLE = Machine(is_root=True, built=True, has_debootstrap=True)


# -- pure -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("machine", "sandbox", "why"),
    [
        (ABLE, True, "it is built"),
        (Machine(is_root=True, built=False, has_debootstrap=True), True, "can build it"),
        (Machine(is_root=False, built=True, has_debootstrap=True), False, "needs root"),
        (Machine(is_root=True, built=False, has_debootstrap=False), False, "debootstrap"),
    ],
)
def test_auto_takes_the_sandbox_only_where_the_machine_can_run_it(
    machine: Machine, sandbox: bool, why: str
) -> None:
    choice = choose(LineMode.AUTO, machine)
    assert choice.sandbox is sandbox
    assert why in choice.why


def test_a_forced_line_is_the_line_whatever_the_machine() -> None:
    unable = Machine(is_root=False, built=False, has_debootstrap=False)
    assert choose(LineMode.SANDBOX, unable).sandbox
    assert not choose(LineMode.SIMULATED, ABLE).sandbox


def test_the_dial_string_carries_the_callee_servers_port_then_the_number() -> None:
    template = channel_template(9092)
    assert template.format(number="442079460101") == "PJSIP/21609092442079460101@loopback"
    with pytest.raises(ValueError, match="5 digits"):
        channel_template(100_000)


@pytest.mark.parametrize(
    ("call_id", "number"),
    [
        ("8d1c2f3a-1b2c-4d5e-0000-442079460101", "+442079460101"),
        ("8d1c2f3a-1b2c-4d5e-1234-567890123456", "+1234567890123456"),
    ],
)
def test_the_number_comes_back_out_of_the_uuid(call_id: str, number: str) -> None:
    assert number_in(uuid.UUID(call_id)) == number


@pytest.mark.parametrize("call_id", ["8d1c2f3a-1b2c-4d5e-abcd-442079460101", str(uuid.UUID(int=0))])
def test_a_uuid_without_a_number_is_refused(call_id: str) -> None:
    with pytest.raises(ValueError, match="carries no number"):
        number_in(uuid.UUID(call_id))


def test_the_ami_user_is_the_one_the_sandbox_defines() -> None:
    conf = (ROOT / "asterisk" / "sandbox" / "conf" / "manager.conf").read_text()
    assert re.search(rf"^port = {sandbox_line.AMI_PORT}$", conf, re.MULTILINE)
    user = conf.split(f"[{sandbox_line.AMI_USERNAME}]", 1)[1]
    assert re.search(rf"^secret = {sandbox_line.AMI_SECRET}$", user, re.MULTILINE)


async def test_auto_falls_back_to_the_simulated_line_and_says_why(
    capsys: pytest.CaptureFixture[str],
) -> None:
    unable = Machine(is_root=False, built=True, has_debootstrap=True)
    async with open_line(LineMode.AUTO, unable) as line:
        assert line.name == "a simulated telephone line"
        assert line.channel_template == "PJSIP/{number}@demo-line"
    said = capsys.readouterr().out
    why = "the Asterisk sandbox needs root (chroot and mount)"
    assert said == f"Telephone line: simulated, because {why}.\n"


async def test_auto_falls_back_when_the_sandbox_fails_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENDEEP_SANDBOX_ROOT", str(tmp_path / "no-root"))  # nothing built
    async with open_line(LineMode.AUTO, ABLE) as line:
        assert line.name == "a simulated telephone line"
    said = capsys.readouterr().out
    assert said.startswith(
        "Telephone line: simulated, because the Asterisk sandbox failed: sandbox.sh start: "
    )
    assert said.count("\n") == 1


async def test_a_forced_sandbox_that_cannot_start_stops_the_demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENDEEP_SANDBOX_ROOT", str(tmp_path / "no-root"))
    with pytest.raises(SandboxUnavailable, match=r"sandbox\.sh start"):
        async with open_line(LineMode.SANDBOX, ABLE):
            pass


# -- real calls through the sandbox -----------------------------------------------------------
class Agent(OurSide):
    """OurSide that also keeps Asterisk's AudioSocket alive: silence every 20 ms, as
    OpenDeep's PacedWriter does (docs/protocols.md, The 2-second inactivity timeout)."""

    speaking = False

    async def keep_alive(self) -> None:
        while True:
            if self.writer is not None and not self.speaking and not self.writer.is_closing():
                self.writer.write(encode_audio(bytes(voice.FRAME_BYTES)))
            await asyncio.sleep(0.02)

    async def say(self, text: str) -> None:
        self.speaking = True
        try:
            await super().say(text)
        finally:
            self.speaking = False


@contextlib.asynccontextmanager
async def sandbox_call(
    callee: DemoCallee,
) -> AsyncIterator[tuple[AmiClient, Agent, str, CalleeServer]]:
    """One answered call to `callee` over the sandbox line: the client, our side, the call
    id and the callee server."""
    ours = Agent()
    server = StreamServer(ours.serve, "agent-audiosocket")
    await server.start()
    ours.port = server.port
    keep_alive = asyncio.create_task(ours.keep_alive())
    call_id = str(uuid.uuid4())
    client = AmiClient(
        sandbox_line.AMI_HOST, sandbox_line.AMI_PORT, sandbox_line.AMI_USERNAME,
        SecretStr(sandbox_line.AMI_SECRET), action_timeout=5.0,
    )  # fmt: skip
    try:
        async with CalleeServer() as callees, client:
            await client.wait_connected(10)
            events = client.subscribe(call_id)
            await client.originate(
                call_id, channel_template(callees.port).format(number=callee.number[1:]),
                "opendeep-agent", "s",
                variables={"CALL_ID": call_id, "AUDIOSOCKET_ADDR": f"127.0.0.1:{ours.port}"},
            )  # fmt: skip
            async with asyncio.timeout(10):
                while not isinstance(event := await events.get(10), ami_events.OriginateResponse):
                    pass
            assert event.success, event
            async with asyncio.timeout(5):  # the far end connects right after answering
                while not callees.calls:  # noqa: ASYNC110 - a set: no event to await
                    await asyncio.sleep(0.02)
            yield client, ours, call_id, callees
            with contextlib.suppress(Exception):
                await client.hangup(call_id)
            await asyncio.wait_for(ours.ended.wait(), 5)
    finally:
        await cancel_and_wait(keep_alive)
        await server.stop()


@pytest.mark.sandbox
async def test_the_menu_takes_the_agents_key_over_sip_then_connects_to_reception(
    asterisk_sandbox: object,
) -> None:
    async with sandbox_call(BRIGHT_SMILE) as (client, ours, call_id, callees):
        [call] = callees.calls
        assert call.callee is BRIGHT_SMILE
        said = await first_line_then_quiet(ours, BRIGHT_SMILE)  # the menu waits for a key
        assert said > 50  # the menu was heard through Asterisk
        await client.play_dtmf(call_id, "1")  # RFC 4733 to the far end, a DTMF frame to us
        await ours.until_loud(said + 20, 5)  # "Please hold while we connect you."


@pytest.mark.sandbox
async def test_the_receptionist_hears_the_agent_through_asterisk_before_she_answers(
    asterisk_sandbox: object,
) -> None:
    async with sandbox_call(HARBOR) as (_client, ours, _call_id, callees):
        [call] = callees.calls
        assert call.callee is HARBOR
        said = await first_line_then_quiet(ours, HARBOR)  # waiting for the agent
        await ours.say("Hello Maya, could I book a cleaning?")
        await ours.until_loud(said + 20, 5)  # "Of course. I can do Wednesday..."


@pytest.mark.sandbox
async def test_the_call_ends_on_both_sides_when_the_agent_hangs_up(
    asterisk_sandbox: object,
) -> None:
    async with sandbox_call(OAK_STREET) as (client, ours, call_id, callees):
        await ours.until_loud(20, 10)  # the answering machine's greeting
        await client.hangup(call_id)
        await asyncio.wait_for(ours.ended.wait(), 5)
        async with asyncio.timeout(5):
            while callees.calls:  # noqa: ASYNC110 - a set: no event to await
                await asyncio.sleep(0.05)
