"""StreamServer (common/stream_server.py): every accepted connection is closed, whoever ends it."""

from __future__ import annotations

import asyncio

from common.stream_server import StreamServer, close_writer


async def _eof_within(reader: asyncio.StreamReader, seconds: float = 2.0) -> bool:
    """Whether the server closed its side: reads until end of stream."""
    async with asyncio.timeout(seconds):
        while await reader.read(4096):
            pass
    return True


async def test_a_handler_that_returns_closes_its_connection() -> None:
    async def greet(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello")

    async with StreamServer(greet, "greeter") as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        assert await reader.read(5) == b"hello"
        assert await _eof_within(reader)
        await close_writer(writer)
        assert server.connections == 0


async def test_stop_cancels_a_waiting_handler_and_closes_its_connection() -> None:
    entered = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, _: asyncio.StreamWriter) -> None:
        entered.set()
        await reader.read()  # the peer says nothing and stays

    server = StreamServer(handler, "waiting")
    await server.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    await asyncio.wait_for(entered.wait(), 2)
    await server.stop()
    assert server.connections == 0
    assert await _eof_within(reader)
    await close_writer(writer)


async def test_stop_closes_a_live_connection_and_a_peer_that_reads_nothing() -> None:
    async def flood(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:  # the peer never reads: the write buffer only grows
            writer.write(bytes(65_536))
            await asyncio.sleep(0)

    server = StreamServer(flood, "flood")
    await server.start()
    _, writer = await asyncio.open_connection("127.0.0.1", server.port)
    await asyncio.sleep(0.2)
    await asyncio.wait_for(server.stop(), 5)  # the close is aborted, not waited on forever
    assert server.connections == 0
    writer.transport.abort()
