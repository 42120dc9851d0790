"""Shared fixtures. Services are real: Redis, PostgreSQL and the Asterisk sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.sandbox import Sandbox, provide_sandbox
from tests.support.services import (
    POSTGRES_TEST_URL,
    REDIS_TEST_URL,
    port_open,
    unavailable,
)


@pytest.fixture(scope="session")
def redis_url() -> str:
    if not port_open(REDIS_TEST_URL, 6379):
        unavailable("Redis", "start it with: redis-server --daemonize yes --port 6379")
    return REDIS_TEST_URL


@pytest.fixture(scope="session")
def postgres_url() -> str:
    if not port_open(POSTGRES_TEST_URL, 5432):
        unavailable("PostgreSQL", "start it (pg_ctlcluster ... main start) with a database 'test'")
    return POSTGRES_TEST_URL


@pytest.fixture(scope="session")
def asterisk_sandbox(pytestconfig: pytest.Config) -> Iterator[Sandbox]:
    """The Asterisk 22 sandbox, started once per session (see tests/support/sandbox.py)."""
    yield from provide_sandbox(pytestconfig)
