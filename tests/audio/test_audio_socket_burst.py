"""A burst of connections: the kernel holds them while the loop is busy, every refusal is
counted, and the log gets one line a second per reason (issue 13, AudioSocket hygiene)."""

from __future__ import annotations

import asyncio
import logging
import selectors
import socket
import time
import uuid

import pytest

from audio_processing.audio_socket_protocol import encode_uuid
from audio_processing.audio_socket_server import AudioSocketServer

BURST = 600


def connect_all(port: int, count: int) -> list[socket.socket]:
    peers = []
    for _ in range(count):
        peer = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        peer.setblocking(False)
        peer.connect_ex(("127.0.0.1", port))
        peers.append(peer)
    return peers


def connected(peers: list[socket.socket], within: float) -> int:
    """How many finished their TCP handshake (a full accept queue leaves the rest waiting)."""
    with selectors.DefaultSelector() as sel:
        for peer in peers:
            sel.register(peer, selectors.EVENT_WRITE)
        done: set[socket.socket] = set()
        deadline = time.monotonic() + within
        while len(done) < len(peers) and (left := deadline - time.monotonic()) > 0:
            for key, _ in sel.select(left):
                if key.fileobj not in done:
                    done.add(key.fileobj)  # type: ignore[arg-type]
                    sel.unregister(key.fileobj)
        return sum(1 for p in done if p.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0)


async def test_600_callers_at_once_wait_in_the_backlog_and_are_refused_in_a_few_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = AudioSocketServer("127.0.0.1", 0, first_frame_timeout=2.0)
    await server.start()
    peers: list[socket.socket] = []
    try:
        # The loop accepts nothing while this runs: only the listen backlog holds them.
        peers = connect_all(server.port, BURST)
        assert connected(peers, within=2.0) == BURST
        for peer in peers:
            peer.setblocking(True)
            peer.sendall(encode_uuid(uuid.uuid4()))  # calls nobody expects
        caplog.set_level(logging.WARNING, "audio_processing.audio_socket_server")
        started = time.monotonic()
        async with asyncio.timeout(30):
            while server.rejected_connections < BURST:  # noqa: ASYNC110 - a counter, no event
                await asyncio.sleep(0.05)
        took = time.monotonic() - started
    finally:
        for peer in peers:
            peer.close()
        await server.stop()
    assert server.rejected_connections == BURST
    lines = [r for r in caplog.records if r.getMessage() == "AudioSocket connection rejected"]
    assert 1 <= len(lines) <= took + 2  # one a second (the first at once), not one each
    assert sum(r.count for r in lines) <= BURST
