"""A local AMI server speaking the real wire protocol, for tests of the AMI client.

It sends the banner, checks Login, answers Ping, answers other actions by ActionID (by
default "Success"; per-action handlers or a recorded transcript can say more), pushes
events, and can misbehave on demand: drop every connection, or go half-open (keep the
socket open and stop answering). Every action received is kept, so a test can prove an
action was (not) sent twice. Listens on 127.0.0.1, port 0.

Transcripts (tests/fixtures/ami/*.txt) are recorded AMI conversations, one line per wire
line: `> ` for what the client sent, `< ` for what Asterisk sent, a bare `>`/`<` for the
blank line ending a message, `#` for comments. Replaying one: when the client sends an
action whose name matches the next recorded client action, the fake sends the recorded
server messages that followed it, with the recorded ActionID replaced by the live one.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from call_processor.ami.wire import HeaderValue, decode, encode, split_messages
from common.stream_server import StreamServer, close_writer

Message = dict[str, HeaderValue]
BANNER = b"Asterisk Call Manager/11.0.0\r\n"


def _get(message: Mapping[str, HeaderValue], key: str) -> str:
    for k, v in message.items():
        if k.lower() == key.lower():
            return v if isinstance(v, str) else v[0]
    return ""


@dataclass
class Received:
    """One action as the fake received it."""

    connection: int
    headers: Message

    @property
    def name(self) -> str:
        return _get(self.headers, "Action")

    @property
    def action_id(self) -> str:
        return _get(self.headers, "ActionID")


Item = tuple[str, Message]  # ("client" | "server", message)


def load_transcript(path: Path) -> list[Item]:
    """The conversation as (side, message) pairs in wire order."""
    items: list[Item] = []
    block: list[str] = []
    for raw in path.read_text().splitlines():
        if not raw or raw.startswith("#"):
            continue
        side = {">": "client", "<": "server"}[raw[0]]
        line = raw[2:] if raw[1:2] == " " else raw[1:]
        if line:
            block.append(line)
            continue
        message = decode("\r\n".join(block))
        block = []
        if message:
            items.append((side, message))
    return items


def transcript_server_messages(path: Path) -> list[Message]:
    """Everything Asterisk sent in a transcript, in order (for pure replay tests)."""
    return [m for side, m in load_transcript(path) if side == "server"]


def _replayable(items: list[Item]) -> list[Item]:
    """Drop Login/Ping and their replies, and FullyBooted: the fake does those itself."""
    skip_ids = {
        _get(m, "ActionID")
        for side, m in items
        if side == "client" and _get(m, "Action").lower() in ("login", "ping")
    }
    return [
        (side, m)
        for side, m in items
        if _get(m, "ActionID") not in skip_ids and _get(m, "Event").lower() != "fullybooted"
    ]


Handler = Callable[["Connection", Received], Awaitable[None] | None]


class Connection:
    def __init__(self, server: FakeAmi, number: int, writer: asyncio.StreamWriter) -> None:
        self.server, self.number, self.writer = server, number, writer
        self.logged_in = False
        self.silent = False  # half-open: read and drop everything, answer nothing

    def send(self, headers: Mapping[str, HeaderValue]) -> None:
        if not self.writer.is_closing():
            self.writer.write(encode(headers))

    def reply(self, action: Received, response: str = "Success", **fields: str) -> None:
        self.send({"Response": response, "ActionID": action.action_id, **fields})

    def close(self) -> None:
        self.writer.close()


class FakeAmi:
    def __init__(
        self,
        username: str = "opendeep",
        secret: str = "s3cret-test",
        fully_booted: bool = True,
    ) -> None:
        self.username, self.secret, self.fully_booted = username, secret, fully_booted
        self.received: list[Received] = []
        self.handlers: dict[str, Handler] = {}
        self.connections: list[Connection] = []
        self.logins = 0
        self.transcript: list[Item] = []
        self._server: StreamServer | None = None
        self.port = 0
        self._changed = asyncio.Event()

    async def start(self, port: int = 0) -> FakeAmi:
        """On `port` (0: any free one); a fixed port lets a test bring AMI back."""
        self._server = StreamServer(self._session, "fake-ami", port=port)
        await self._server.start()
        self.port = self._server.port
        return self

    async def stop(self) -> None:
        for conn in self.connections:
            conn.close()
        if self._server is not None:
            await self._server.stop(timeout=2)

    async def __aenter__(self) -> FakeAmi:
        return await self.start()

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    # -- test controls -------------------------------------------------------------------
    def on(self, action: str, handler: Handler) -> None:
        self.handlers[action.lower()] = handler

    def named(self, action: str) -> list[Received]:
        return [r for r in self.received if r.name.lower() == action.lower()]

    @property
    def live(self) -> list[Connection]:
        return [c for c in self.connections if not c.writer.is_closing()]

    def push(self, headers: Mapping[str, HeaderValue]) -> None:
        """Broadcast an event to every logged-in connection (as Asterisk does)."""
        for conn in self.live:
            if conn.logged_in:
                conn.send(headers)

    def half_open(self) -> None:
        """Every current connection stays open but never answers again (a dead path)."""
        for conn in self.connections:
            conn.silent = True

    def drop_all(self) -> None:
        for conn in self.connections:
            conn.close()

    def replay(self, path: Path) -> None:
        self.transcript = _replayable(load_transcript(path))

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait until `predicate()` holds; re-checked whenever an action or connection arrives."""
        async with asyncio.timeout(timeout):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    # -- serving -------------------------------------------------------------------------
    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Connection(self, len(self.connections) + 1, writer)
        self.connections.append(conn)
        self._changed.set()
        conn.writer.write(BANNER)
        buffer = ""
        try:
            while chunk := await reader.read(4096):
                buffer += chunk.decode()
                blocks, buffer = split_messages(buffer)
                for block in blocks:
                    await self._handle(conn, Received(conn.number, decode(block)))
        except ConnectionError:
            pass
        finally:
            conn.close()
            self._changed.set()

    async def _handle(self, conn: Connection, action: Received) -> None:
        self.received.append(action)
        self._changed.set()
        if conn.silent:
            return
        name = action.name.lower()
        if name == "login":
            self._login(conn, action)
            return
        if not conn.logged_in:
            conn.reply(action, "Error", Message="Permission denied")
            return
        if name == "ping":
            conn.reply(action, Ping="Pong", Timestamp=f"{time.time():.6f}")
            return
        if self._replay_step(conn, action):
            return
        handler = self.handlers.get(name)
        if handler is None:
            conn.reply(action)
            return
        result = handler(conn, action)
        if result is not None:
            await result

    def _login(self, conn: Connection, action: Received) -> None:
        ok = (_get(action.headers, "Username"), _get(action.headers, "Secret")) == (
            self.username,
            self.secret,
        )
        if not ok:
            conn.reply(action, "Error", Message="Authentication failed")
            conn.close()
            return
        conn.logged_in = True
        self.logins += 1
        conn.reply(action, Message="Authentication accepted")
        if self.fully_booted:
            conn.send({"Event": "FullyBooted", "Privilege": "system,all", "Status": "Fully Booted"})

    def _replay_step(self, conn: Connection, action: Received) -> bool:
        """Answer from the transcript when its next client action has this name."""
        if not self.transcript or self.transcript[0][0] != "client":
            return False
        recorded = self.transcript[0][1]
        if _get(recorded, "Action").lower() != action.name.lower():
            return False
        self.transcript.pop(0)
        old_id = _get(recorded, "ActionID")
        while self.transcript and self.transcript[0][0] == "server":
            conn.send(_swap_action_id(self.transcript.pop(0)[1], old_id, action.action_id))
        return True


def _swap_action_id(message: Message, old: str, new: str) -> Message:
    return {k: (new if k.lower() == "actionid" and v == old else v) for k, v in message.items()}


class RecordingProxy:
    """A TCP proxy in front of a real AMI that writes the conversation as a transcript.

    Used to record tests/fixtures/ami/*.txt from the sandbox; `Secret` values are masked.
    """

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.lines: list[str] = []
        self.port = 0
        self._server = StreamServer(self._session, "ami-recorder")

    async def start(self) -> RecordingProxy:
        await self._server.start()
        self.port = self._server.port
        return self

    async def stop(self) -> None:
        await self._server.stop(timeout=2)

    def count(self, action: str) -> int:
        """How many times the client sent this action through the proxy."""
        return self.lines.count(f"> Action: {action}")

    def transcript(self, comment: str) -> str:
        header = "".join(f"# {line}\n" for line in comment.splitlines())
        return header + "\n".join(self.lines) + "\n"

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(*self.upstream), 5
            )
        except (OSError, TimeoutError):
            return  # upstream down: the client sees a closed connection, as direct
        try:
            banner = await asyncio.wait_for(up_reader.readline(), 5)
            writer.write(banner)
            self.lines.append("# banner: " + banner.decode().strip())
            await asyncio.gather(
                self._pipe(reader, up_writer, ">"), self._pipe(up_reader, writer, "<")
            )
        finally:
            await close_writer(up_writer)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, mark: str) -> None:
        with contextlib.suppress(ConnectionError):
            await self._copy(src, dst, mark)
        dst.close()

    async def _copy(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, mark: str) -> None:
        buffer = ""
        while chunk := await src.read(4096):
            dst.write(chunk)
            buffer += chunk.decode()
            blocks, buffer = split_messages(buffer)
            for block in blocks:
                for line in block.replace("\r", "").split("\n"):
                    if line.lower().startswith("secret:"):
                        line = "Secret: ***"
                    self.lines.append(f"{mark} {line}")
                self.lines.append(mark)
