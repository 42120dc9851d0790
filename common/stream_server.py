"""A TCP server (asyncio streams) that owns its connections and closes every one of them.

Why: `asyncio.start_server` on Python 3.11 forgets a connection once its callback returns,
and `Server.wait_closed()` does not wait for them. A handler task that is cancelled before
its first step never runs its `finally`, and a connection accepted while the server stops
has no handler at all; either way its socket stays open until the garbage collector finds
it, possibly after the event loop is gone. Here every connection is an owned task
(common/owned_tasks.py) and every writer is closed and awaited: by its handler's end, or by
`stop()` for whatever is left.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from common.owned_tasks import TaskOwner

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
CLOSE_TIMEOUT = 2.0  # a peer that reads nothing must not hold a close up longer than this


class StreamServer:
    """`async with StreamServer(handler, "name") as server:` then connect to `server.port`."""

    def __init__(self, handler: Handler, name: str, host: str = "127.0.0.1", port: int = 0):
        self.host, self.port = host, port
        self._handler = handler
        self._owner = TaskOwner(name)
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self._accepted = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self, timeout: float = 3.0) -> None:
        """Stop listening, cancel every connection's handler, close every connection."""
        if self._server is not None:
            self._server.close()
        await self._owner.aclose(timeout=timeout)
        await asyncio.gather(*(close_writer(w) for w in list(self._writers)))
        self._writers.clear()
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> StreamServer:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    @property
    def connections(self) -> int:
        return len(self._writers)

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        if self._owner.closed:  # arrived while stopping: stop() closes it
            return
        self._accepted += 1
        self._owner.spawn(self._serve(reader, writer), f"connection{self._accepted}")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._handler(reader, writer)
        finally:
            await close_writer(writer)
            self._writers.discard(writer)


async def close_writer(writer: asyncio.StreamWriter) -> None:
    """Close and wait until the socket is released; abort a peer that will not take the rest
    of what was written."""
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), CLOSE_TIMEOUT)
    except TimeoutError:
        writer.transport.abort()
    except OSError:
        pass  # the peer reset the connection: it is closed all the same
