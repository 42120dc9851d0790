"""Inbound calls in the sandbox: ring the production [opendeep-inbound] route as a carrier
would, hear its announcement, and keep test sessions from crossing wires.

Why a lock: [opendeep-inbound-call] connects to the global OPENDEEP_AUDIOSOCKET, and every
platform taking inbound calls sets it to itself at login. Several pytest sessions share one
sandbox, so a test that rings in holds `inbound_route` (a lock across processes) from
before its platform logs in until its last call is over; platforms of other tests keep
INBOUND_ENABLED off (tests/support/platform_settings.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from common.stream_server import StreamServer, close_writer
from tests.support.raw_ami import AmiMessage, RawAmi, variables
from tests.support.sandbox import Sandbox

CALLING_SIDE = "far-end-caller"  # says "hello world" (mark spoke), then listens up to 30 s
INBOUND_PREFIX = "7"  # PJSIP/7<DID>@loopback: a carrier's call to our number DID
DID = "15550001111"  # our number, as the carrier delivers it


@contextlib.asynccontextmanager
async def inbound_route(box: Sandbox, timeout: float = 300.0) -> AsyncIterator[None]:
    """Exclusive use of the sandbox's inbound route (polled: never blocks the loop)."""
    path = box.root / ".inbound-route.lock"
    with path.open("a") as handle:
        async with asyncio.timeout(timeout):
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    await asyncio.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


async def raw_ami(box: Sandbox) -> RawAmi:
    """A logged-in AMI connection of the test's own (the production user's privileges)."""
    ami = await RawAmi.connect(box.ami_host, box.ami_port)
    await ami.login(box.ami_username, box.ami_secret)
    return ami


async def ring_in(ami: RawAmi, caller: str, token: str, did: str = DID) -> None:
    """A call from `caller` to our `did`, as a trunk delivers it into [opendeep-inbound]."""
    await ami.action(
        "Originate",
        {
            "Channel": f"PJSIP/{INBOUND_PREFIX}{did}@loopback",
            "CallerID": caller,
            "Context": CALLING_SIDE,
            "Exten": "s",
            "Priority": "1",
            "Timeout": "20000",
            "Variable": variables({"TOKEN": token}),
            "Async": "true",
        },
    )


async def announcement(ami: RawAmi, caller: str, timeout: float = 10.0) -> AmiMessage:
    """The dialplan's OpenDeepInbound UserEvent for this caller (CallID, Uniqueid, ...)."""

    def of_caller(event: AmiMessage) -> bool:
        return event.get("UserEvent") == "OpenDeepInbound" and event.get("CallerDigits") == caller

    return await ami.wait_event(of_caller, timeout=timeout)


@dataclass
class DelayingProxy:
    """A TCP proxy that hands everything the server says to the client `delay` seconds
    late, in order (e.g. an AMI whose announcements trail the AudioSocket connection)."""

    upstream_host: str
    upstream_port: int
    delay: float
    port: int = 0
    forwarded: list[tuple[float, bytes]] = field(default_factory=list)  # (monotonic, chunk)

    def __post_init__(self) -> None:
        self._server = StreamServer(self._session, "delaying-proxy")

    def forwarded_at(self, needle: bytes) -> float | None:
        """When the chunk holding `needle` reached the client, or None."""
        return next((at for at, chunk in self.forwarded if needle in chunk), None)

    async def __aenter__(self) -> DelayingProxy:
        await self._server.start()
        self.port = self._server.port
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._server.stop(timeout=2.0)

    async def _session(self, client: asyncio.StreamReader, to_client: asyncio.StreamWriter) -> None:
        upstream, to_upstream = await asyncio.open_connection(
            self.upstream_host, self.upstream_port
        )
        late: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        try:
            async with asyncio.TaskGroup() as both:
                both.create_task(_copy(client, to_upstream))
                both.create_task(self._read_late(upstream, late))
                both.create_task(self._write_late(late, to_client))
        except* (OSError, EOFError):
            pass
        finally:
            await close_writer(to_upstream)

    async def _read_late(
        self, upstream: asyncio.StreamReader, late: asyncio.Queue[tuple[float, bytes]]
    ) -> None:
        while chunk := await upstream.read(65_536):
            late.put_nowait((time.monotonic() + self.delay, chunk))
        raise EOFError("upstream closed")

    async def _write_late(
        self, late: asyncio.Queue[tuple[float, bytes]], to_client: asyncio.StreamWriter
    ) -> None:
        while True:
            due, chunk = await late.get()
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            to_client.write(chunk)
            self.forwarded.append((time.monotonic(), chunk))
            await to_client.drain()


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while chunk := await reader.read(65_536):
        writer.write(chunk)
        await writer.drain()
    raise EOFError("client closed")
