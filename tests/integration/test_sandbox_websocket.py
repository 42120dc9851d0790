"""The sandbox's WebSocket media path: [opendeep-agent] with OPENDEEP_MEDIA=websocket.

Pins the Asterisk side of docs/protocols.md, Media WebSocket (chan_websocket, outgoing):
Asterisk connects to the `opendeep-media` client's uri with the call id in the query
string, offers no subprotocol, starts with MEDIA_START, and a TEXT `HANGUP` ends the call
with close code 1000 from Asterisk. The server here is a bare `websockets` one (no
product code), on the sandbox's fixed test port.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from tests.support import sandbox as scenarios
from tests.support.raw_ami import RawAmi, event_is, variables
from tests.support.sandbox import Sandbox

pytestmark = pytest.mark.sandbox

MEDIA_PORT = 18765  # asterisk/sandbox/conf/websocket_client.conf, [opendeep-media]


@dataclass
class Seen:
    """What the one connection of the call showed."""

    path: str = ""
    offered: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    binary_sizes: set[int] = field(default_factory=set)
    close_code: int | None = None
    asterisk_closed_first: bool | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)


async def _hang_up_after_audio(ws: ServerConnection, seen: Seen) -> None:
    """Read until the callee's audio arrives, then send HANGUP and read to the close."""
    try:
        async for message in ws:
            if isinstance(message, bytes):
                seen.binary_sizes.add(len(message))
                if len(seen.binary_sizes) == 1 and "HANGUP" not in seen.texts:
                    seen.texts.append("HANGUP")
                    await ws.send("HANGUP")
            else:
                seen.texts.append(message)
    except ConnectionClosed:
        pass
    seen.close_code = ws.close_code
    seen.asterisk_closed_first = ws.protocol.close_rcvd_then_sent


async def test_websocket_media_connects_with_the_call_id_and_hangup_ends_the_call(
    asterisk_sandbox: Sandbox, ami: RawAmi
) -> None:
    seen = Seen()

    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        seen.path = ws.request.path
        seen.offered = ws.request.headers.get_all("Sec-WebSocket-Protocol")
        await _hang_up_after_audio(ws, seen)
        seen.done.set()

    call_id, token = str(uuid.uuid4()), asterisk_sandbox.new_token()
    async with serve(handler, "127.0.0.1", MEDIA_PORT):
        fields = {
            "Channel": asterisk_sandbox.channel(scenarios.PERSON, token),
            "Context": asterisk_sandbox.agent_context,
            "Exten": asterisk_sandbox.agent_exten,
            "Priority": "1",
            "Timeout": "15000",
            "ChannelId": call_id,
            "Variable": variables(
                {
                    "CALL_ID": call_id,
                    "OPENDEEP_MEDIA": "websocket",
                    "OPENDEEP_MEDIA_CONNECTION": "opendeep-media",
                }
            ),
            "Async": "true",
        }
        assert (await ami.action("Originate", fields))["Response"] == "Success"
        async with asyncio.timeout(20):
            await seen.done.wait()

    assert seen.path == f"/media?call_id={call_id}"
    assert seen.offered == []
    assert seen.texts[0].startswith("MEDIA_START connection_id:opendeep-media ")
    assert "format:slin optimal_frame_size:320 ptime:20" in seen.texts[0]
    assert seen.binary_sizes == {320}
    assert (seen.close_code, seen.asterisk_closed_first) == (1000, True)
    hangup = await ami.wait_event(event_is("Hangup", Uniqueid=call_id), timeout=10)
    assert hangup["Cause"] == "16"
    result = await asterisk_sandbox.wait_far_end(token, lambda r: r.has("hangup"), 5)
    assert result.has("answered")
