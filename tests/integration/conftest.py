"""Fixtures of the sandbox integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.raw_ami import RawAmi
from tests.support.sandbox import Sandbox


@pytest.fixture
async def ami(asterisk_sandbox: Sandbox) -> AsyncIterator[RawAmi]:
    """A raw AMI connection to the sandbox, logged in as OpenDeep's least-privilege user."""
    client = await RawAmi.connect(asterisk_sandbox.ami_host, asterisk_sandbox.ami_port)
    await client.login(asterisk_sandbox.ami_username, asterisk_sandbox.ami_secret)
    yield client
    await client.aclose()
