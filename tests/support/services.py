"""Real services for tests: in CI a missing one fails the test; elsewhere it skips with a hint."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
REDIS_TEST_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")
POSTGRES_TEST_URL = os.environ.get(
    "POSTGRES_TEST_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


def unavailable(what: str, hint: str) -> None:
    """Fail in CI (a missing service must never turn green into skipped); skip elsewhere."""
    message = f"{what} is not reachable; {hint}"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def port_open(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 1
        ):
            return True
    except OSError:
        return False
