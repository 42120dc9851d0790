"""The ports tests hand to subprocesses: never the same one twice in a run.

A platform's web port and AudioSocket port were once picked by two bind(0) calls that
returned the same port, and the platform failed to start in CI.
"""

from __future__ import annotations

import socket
from pathlib import Path

from tests.support.processes import free_port, free_ports


def test_picks_never_repeat_and_are_bindable_outside_the_ephemeral_range() -> None:
    picked = [free_port() for _ in range(300)] + free_ports(3)
    assert len(set(picked)) == len(picked)
    ephemeral_start = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    assert all(27000 <= p < ephemeral_start for p in picked)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", picked[-1]))


def test_consecutive_ports_for_workers() -> None:
    first, second, third = free_ports(3)
    assert (second, third) == (first + 1, first + 2)
