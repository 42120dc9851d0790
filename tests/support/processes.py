"""Run main.py as a user would: a subprocess with a clean environment in its own folder."""

from __future__ import annotations

import os
import random
import socket
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAIN = ROOT / "main.py"
_OUR_PREFIXES = (
    "DATABASE_",
    "REDIS_",
    "AMI_",
    "DIAL_",
    "AUDIOSOCKET_",
    "OPENAI_",
    "WEB_",
    "TWILIO_",
    "SMTP_",
    "CALLING_",
    "MAX_CONCURRENT",
    "LOG_",
    "DATA_DIR",
    "NODE_ID",
)


def clean_env(**overrides: str) -> dict[str, str]:
    """The machine's environment without any OpenDeep setting, plus `overrides`."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(_OUR_PREFIXES)}
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return env


def main_command(*args: str) -> list[str]:
    return [sys.executable, str(MAIN), *args]


# Ports a test may listen on: above the sandbox's fixed ones (15038 AMI, 15060 SIP, 18765
# media WebSocket, RTP 26000-26999) and below the kernel's ephemeral range, so no outgoing
# connection (to Redis, AMI, the model) is handed a port between our pick and its bind.
_FIRST_PORT = 27000
_handed_out: set[int] = set()


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int = 1) -> list[int]:
    """`count` consecutive free ports (worker i listens on base + i), never one handed out
    before in this test run. Two picks through bind(0) can return the same port once the
    first socket is closed: a platform's web and AudioSocket ports once collided that way."""
    last = max(_ephemeral_start(), _FIRST_PORT + 1000) - count
    for _ in range(200):
        base = random.randrange(_FIRST_PORT, last)
        wanted = range(base, base + count)
        if _handed_out.isdisjoint(wanted) and all(_bindable(p) for p in wanted):
            _handed_out.update(wanted)
            return list(wanted)
    raise AssertionError(f"no {count} consecutive free ports in {_FIRST_PORT}-{last}")


def free_port() -> int:
    return free_ports(1)[0]
