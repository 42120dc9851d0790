"""Resolving a webhook target's host, then checking every address it gave.

The delivery connects to the address checked here (not to the name again), so a name
that answers a public address to the check and a private one to the connection (DNS
rebinding) reaches nothing it should not.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from common.webhook_targets import Target, check_addresses

RESOLVE_TIMEOUT = 5.0


async def resolve(host: str, port: int) -> list[str]:
    """The addresses of `host` (a literal is its own answer); [] when it does not resolve."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError):
        return []
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def checked_address(target: Target, allow_private: bool) -> str:
    """The address to connect to, after every address of the host passed the check."""
    addresses = await resolve(target.host, target.port)
    check_addresses(addresses, allow_private)
    return addresses[0]
