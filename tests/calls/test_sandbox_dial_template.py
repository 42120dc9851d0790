"""The README's recipe for trying OpenDeep against the sandbox (README, Test numbers):
with DIAL_CHANNEL_TEMPLATE=PJSIP/202{number}@loopback any valid number, typed as a person
would, reaches the sandbox's scenario 202, a callee who answers."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import pytest

from call_processor.call_initiator import CallRequest
from common.phone_numbers import to_e164
from config.settings import DialSettings
from database.repositories import users
from database.states import CallStatus
from launcher.platform import PlatformOverrides, build_platform
from tests.calls.conftest import RecorderFactory, place
from tests.support.platform_settings import platform_settings
from tests.support.sandbox import Sandbox

pytestmark = pytest.mark.sandbox
README_TEMPLATE = "PJSIP/202{number}@loopback"


def typed_number() -> str:
    """A valid San Francisco number, spaced as a person types it, new on every run so the
    far end's results (kept per number) stay apart from earlier runs'."""
    while True:
        typed = f"+1 415 {secrets.randbelow(800) + 200} {secrets.randbelow(10_000):04d}"
        try:
            to_e164(typed, "US")
        except ValueError:
            continue
        return typed


async def test_any_valid_number_reaches_the_sandbox_through_the_readme_template(
    asterisk_sandbox: Sandbox, tmp_path: Path
) -> None:
    settings = platform_settings(tmp_path, sandbox=asterisk_sandbox)
    settings.dial = DialSettings(
        channel_template=README_TEMPLATE,
        context=asterisk_sandbox.agent_context,
        exten=asterisk_sandbox.agent_exten,
    )
    number = to_e164(typed_number(), "US")
    recorders = RecorderFactory(hangup_after=1.0)
    overrides = PlatformOverrides(talkers=lambda _p: recorders, web=False, task_engine=False)
    async with build_platform(settings, overrides) as platform:
        await platform.ami.wait_connected(10)
        async with platform.sessions() as s, s.begin():
            user = await users.create(s, email="try@example.com", password_hash="x")
        request = CallRequest(user_id=user.id, phone_number=number)
        finished = await asyncio.wait_for(place(platform.call_initiator, request), 40)
    far_end = await asterisk_sandbox.wait_far_end(
        number.removeprefix("+"), lambda r: r.hangup_at is not None
    )
    assert finished.status == CallStatus.COMPLETED, finished
    assert far_end.answered_at is not None
