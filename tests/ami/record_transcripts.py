"""Record real AMI conversations from the Asterisk sandbox into tests/fixtures/ami/.

Run (sandbox started):  .venv/bin/python -m tests.ami.record_transcripts
Each scenario drives our AmiClient through a RecordingProxy, so the files show exactly what
this client sent and what Asterisk 22 answered. The replay tests read them back.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from pydantic import SecretStr

from call_processor.ami.call_events import CallEvents
from call_processor.ami.client import AmiClient
from call_processor.ami.events import Hangup, OriginateResponse
from tests.ami.silence_peer import SilencePeer
from tests.support import sandbox as sb
from tests.support.fake_ami import RecordingProxy

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ami"
Scenario = Callable[[AmiClient, sb.Sandbox], Awaitable[str]]


async def until_originate_response(events: CallEvents, timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        async for event in events:
            if isinstance(event, OriginateResponse):
                return


async def until_hangup(events: CallEvents, timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        async for event in events:
            if isinstance(event, Hangup):
                return


async def not_answered(client: AmiClient, box: sb.Sandbox, scenario: str, ring_ms: int) -> str:
    call_id, token = str(uuid.uuid4()), box.new_token()
    events = client.subscribe(call_id)
    await client.originate(
        call_id,
        box.channel(scenario, token),
        box.agent_context,
        box.agent_exten,
        1,
        ring_ms,
        variables={"CALL_ID": call_id},
    )
    await until_originate_response(events)
    await asyncio.sleep(0.5)  # let trailing events of the far leg arrive
    return f"Originate to scenario {scenario} (ring timeout {ring_ms} ms), call_id {call_id}"


async def busy(client: AmiClient, box: sb.Sandbox) -> str:
    return await not_answered(client, box, sb.BUSY, 10_000)


async def no_answer(client: AmiClient, box: sb.Sandbox) -> str:
    return await not_answered(client, box, sb.NO_ANSWER, 2_000)


async def congestion(client: AmiClient, box: sb.Sandbox) -> str:
    return await not_answered(client, box, sb.CONGESTION, 10_000)


async def answered_dtmf(client: AmiClient, box: sb.Sandbox) -> str:
    call_id, token = str(uuid.uuid4()), box.new_token()
    async with SilencePeer() as peer:
        events = client.subscribe(call_id)
        await client.originate(
            call_id,
            box.channel(sb.IVR, token),
            box.agent_context,
            box.agent_exten,
            1,
            10_000,
            variables={"CALL_ID": call_id, "AUDIOSOCKET_ADDR": peer.address},
        )
        await until_originate_response(events)
        await client.play_dtmf(call_id, "7", gap_ms=100)
        await box.wait_far_end(token, lambda r: bool(r.digits), timeout=15)
        await client.getvar(call_id, "CALL_ID")
        await client.hangup(call_id)
        await until_hangup(events)
        await asyncio.sleep(0.5)
    return f"Answered IVR call (scenario {sb.IVR}), PlayDTMF 7, Getvar, Hangup; call_id {call_id}"


async def bad_extension(client: AmiClient, box: sb.Sandbox) -> str:
    call_id = str(uuid.uuid4())
    try:
        await client.originate(call_id, box.channel(sb.BUSY, "1"), "no-such-context", "s", 1, 5000)
    except Exception as exc:
        return f"Originate into a missing context is refused at once ({exc})"
    raise AssertionError("expected an error reply")


SCENARIOS: dict[str, Scenario] = {
    "originate_busy": busy,
    "originate_no_answer": no_answer,
    "originate_congestion": congestion,
    "originate_answered_dtmf": answered_dtmf,
    "originate_bad_extension": bad_extension,
}


async def record(name: str, scenario: Scenario, box: sb.Sandbox) -> None:
    proxy = await RecordingProxy(box.ami_host, box.ami_port).start()
    client = AmiClient(
        "127.0.0.1", proxy.port, box.ami_username, SecretStr(box.ami_secret), ping_interval=300
    )
    try:
        await client.start()
        await client.wait_connected(10)
        comment = await scenario(client, box)
    finally:
        await client.stop()
        await proxy.stop()
    version = box.version()
    text = proxy.transcript(f"{comment}\nrecorded from the sandbox: {version}")
    (FIXTURES / f"{name}.txt").write_text(text)
    print(f"{name}: {len(proxy.lines)} lines")


async def main(names: list[str]) -> None:
    box = sb.Sandbox()
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for name in names or list(SCENARIOS):
        await record(name, SCENARIOS[name], box)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
