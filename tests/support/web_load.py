"""A misbehaving person's browser and scripts, as a separate process: many live pages and
50 MB request bodies, for as long as it runs. Prints one JSON line when its pages are open
and another, on SIGTERM, with what the server answered.

Why a process: the load must reach the platform through its sockets, as it would from the
outside, without running on the event loop it is trying to disturb.

    python -m tests.support.web_load HOST:PORT COOKIE_HEADER PAGES BODY_MIB
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections import Counter

import websockets

CHUNK = 64 * 1024


async def post_big(host: str, port: int, cookie: str, body_mib: int, chunked: bool) -> str:
    """One POST of `body_mib` MiB to /api/chat on a raw socket; the status, or how it died."""
    reader, writer = await asyncio.open_connection(host, port)
    size = body_mib * 1024 * 1024
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"
    writer.write(
        (f"POST /api/chat HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\n"
         f"Content-Type: application/json\r\n{framing}\r\n\r\n").encode()
    )  # fmt: skip
    piece = b"x" * CHUNK
    status = asyncio.ensure_future(reader.readline())  # the server may answer early
    try:
        with contextlib.suppress(ConnectionError):
            for _ in range(size // CHUNK):
                if status.done():
                    break
                writer.write(b"%x\r\n%s\r\n" % (CHUNK, piece) if chunked else piece)
                await writer.drain()
        line = await asyncio.wait_for(status, 10)
        return line.split()[1].decode() if line else "closed"
    except (ConnectionError, TimeoutError):
        return "closed"
    finally:
        status.cancel()
        writer.close()


async def main(address: str, cookie: str, pages: int, body_mib: int) -> None:
    host, port = address.rsplit(":", 1)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    answers: Counter[str] = Counter()
    async with contextlib.AsyncExitStack() as held:
        sockets = [
            await held.enter_async_context(
                websockets.connect(
                    f"ws://{address}/ws/events", additional_headers={"Cookie": cookie},
                    open_timeout=20, max_size=None,
                )
            )
            for _ in range(pages)
        ]  # fmt: skip
        answers[await post_big(host, int(port), cookie, body_mib, chunked=False)] += 1
        print(json.dumps({"ready": len(sockets)}), flush=True)
        sent = 0
        while not stop.is_set():
            chunked = sent % 2 == 1
            answers[await post_big(host, int(port), cookie, body_mib, chunked)] += 1
            sent += 1
        still_open = sum(1 for s in sockets if s.close_code is None)
    print(json.dumps({"answers": dict(answers), "pages_open": still_open}), flush=True)


if __name__ == "__main__":
    address, cookie, pages, body_mib = sys.argv[1:5]
    asyncio.run(main(address, cookie, int(pages), int(body_mib)))
