"""Run main.py as a user would: a subprocess with a clean environment in its own folder."""

from __future__ import annotations

import os
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
