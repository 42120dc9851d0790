"""The simulated telephone line: an AMI server whose calls are answered by demo callees.

Why AMI and AudioSocket rather than a shortcut into the call initiator: the demo must place
calls the way production does, so OpenDeep's own AMI client logs in here, originates,
plays DTMF and hangs up, and its own AudioSocket server takes the callee's audio
(docs/protocols.md, AMI and AudioSocket). The messages themselves are built in
ami_line.py; this module only moves them. Listens on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Mapping

from call_processor.ami.wire import HeaderValue, decode, encode, split_messages
from common.owned_tasks import TaskOwner
from common.stream_server import StreamServer
from launcher.demo import ami_line
from launcher.demo.ami_line import BadOriginate, Dialed, get
from launcher.demo.callee_call import CalleeCall
from launcher.demo.callees import by_number

log = logging.getLogger(__name__)
RING_SECONDS = 1.5
USERNAME = "opendeep"


class SimulatedLine:
    """`async with SimulatedLine() as line:` then point AMI_PORT/AMI_SECRET at it."""

    def __init__(self, ring_seconds: float = RING_SECONDS) -> None:
        self.username = USERNAME
        self.secret = "demo-" + secrets.token_urlsafe(12)
        self.ring_seconds = ring_seconds
        self.port = 0
        self.calls: dict[str, CalleeCall] = {}
        self._writers: list[asyncio.StreamWriter] = []  # logged-in AMI connections
        self._server = StreamServer(self._session, "demo-line-ami")
        self._owner = TaskOwner("demo-line")  # the calls

    async def start(self) -> None:
        await self._server.start()
        self.port = self._server.port
        log.info("demo telephone line listening", extra={"ami_port": self.port})

    async def stop(self) -> None:
        for call in self.calls.values():
            call.hang_up()
        await self._owner.aclose(timeout=3.0)
        await self._server.stop(timeout=3.0)

    async def __aenter__(self) -> SimulatedLine:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    # -- AMI ------------------------------------------------------------------------------
    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(ami_line.BANNER)
        buffer, logged_in = "", False
        try:
            while chunk := await reader.read(4096):
                blocks, buffer = split_messages(buffer + chunk.decode(errors="replace"))
                for block in blocks:
                    logged_in = self._handle(writer, decode(block), logged_in)
        except ConnectionError:
            pass
        finally:
            with contextlib.suppress(ValueError):
                self._writers.remove(writer)

    def _handle(
        self, writer: asyncio.StreamWriter, action: dict[str, HeaderValue], ok: bool
    ) -> bool:
        """Answer one action; returns whether the connection is logged in."""
        name, action_id = get(action, "Action").lower(), get(action, "ActionID")
        if name == "login":
            return self._login(writer, action)
        if not ok:
            writer.write(encode(ami_line.reply(action_id, "Error", Message="Permission denied")))
        elif name == "ping":
            writer.write(
                encode(ami_line.reply(action_id, Ping="Pong", Timestamp=f"{time.time():.6f}"))
            )
        elif name == "originate":
            self._originate(writer, action)
        else:
            writer.write(encode(self._on_call_action(name, action)))
        return ok

    def _login(self, writer: asyncio.StreamWriter, action: Mapping[str, HeaderValue]) -> bool:
        action_id = get(action, "ActionID")
        given = (get(action, "Username"), get(action, "Secret"))
        if not secrets.compare_digest("\n".join(given), f"{self.username}\n{self.secret}"):
            writer.write(
                encode(ami_line.reply(action_id, "Error", Message="Authentication failed"))
            )
            writer.close()
            return False
        writer.write(encode(ami_line.reply(action_id, Message="Authentication accepted")))
        writer.write(encode(ami_line.fully_booted()))
        self._writers.append(writer)
        return True

    def _on_call_action(self, name: str, action: Mapping[str, HeaderValue]) -> ami_line.Message:
        """PlayDTMF, Hangup, Getvar on a call of ours; anything else is accepted and ignored
        (Setvar of a global, for instance)."""
        action_id = get(action, "ActionID")
        call = self.calls.get(get(action, "Channel"))
        if name in ("playdtmf", "hangup", "getvar", "redirect") and call is None:
            return ami_line.reply(action_id, "Error", Message="No such channel")
        if name == "playdtmf" and call is not None:
            call.press(get(action, "Digit"))
            return ami_line.reply(action_id, Message="DTMF successfully queued")
        if name == "hangup" and call is not None:
            call.hang_up()
            return ami_line.reply(action_id, Message="Channel Hungup")
        if name == "getvar":
            return ami_line.reply(action_id, Variable=get(action, "Variable"), Value="Up")
        if name == "redirect":
            return ami_line.reply(action_id, "Error", Message="The demo line cannot transfer")
        return ami_line.reply(action_id)

    def _broadcast(self, message: ami_line.Message) -> None:
        """Events go to every logged-in connection, as Asterisk sends them."""
        for writer in self._writers:
            if not writer.is_closing():
                writer.write(encode(message))

    # -- calls ----------------------------------------------------------------------------
    def _originate(self, writer: asyncio.StreamWriter, action: Mapping[str, HeaderValue]) -> None:
        action_id = get(action, "ActionID")
        try:
            dialed = ami_line.dialed(action)
        except BadOriginate as exc:
            writer.write(encode(ami_line.reply(action_id, "Error", Message=str(exc))))
            return
        writer.write(encode(ami_line.reply(action_id, Message="Originate successfully queued")))
        self._owner.spawn(self._call(dialed), f"call:{dialed.call_id[:8]}")

    async def _call(self, dialed: Dialed) -> None:
        callee = by_number(dialed.number)
        log.info("demo line: ringing", extra={"callee": callee.key, "call_id": dialed.call_id})
        self._broadcast(ami_line.newstate(dialed, 5))
        await asyncio.sleep(self.ring_seconds)
        call = CalleeCall(callee, dialed.call_id[:8])
        self.calls[dialed.call_id] = call
        self._broadcast(ami_line.answered(dialed))
        self._broadcast(ami_line.newstate(dialed, 6))
        try:
            await call.call_out(dialed.audiosocket, dialed.call_id)
        finally:
            self.calls.pop(dialed.call_id, None)
            self._broadcast(ami_line.hangup(dialed))
