"""Settings for a platform built in a test, the way an operator's .env would set them.

Tests build the platform with launcher.platform.build_platform, like `main.py run`; what
differs is only what an operator would put in .env: the sandbox Asterisk, local servers
for OpenAI, a scratch data directory, free ports.
"""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Literal

from pydantic import SecretStr

from config.settings import (
    AmiSettings,
    AppSettings,
    AudioSocketSettings,
    CallingSettings,
    DatabaseSettings,
    DialSettings,
    EmailSettings,
    InboundSettings,
    OpenAISettings,
    RecordingSettings,
    RedisSettings,
    Settings,
    WebhookSettings,
    WebSettings,
    load_settings,
)
from tests.support.processes import free_port
from tests.support.sandbox import Sandbox

NOWHERE = "http://127.0.0.1:9/v1"  # an OpenAI base URL nobody answers (clients built, unused)
ALWAYS = CallingSettings(  # every minute of every day, for tests that place calls now
    calling_hours_start=time(0, 0),
    calling_hours_end=time(23, 59, 59, 999999),
    calling_days="mon,tue,wed,thu,fri,sat,sun",
)


def platform_settings(
    data_dir: Path,
    *,
    sandbox: Sandbox | None = None,
    database_url: str | None = None,
    redis_url: str | None = None,
    openai_base_url: str = NOWHERE,
    ring_timeout: float = 20.0,
    audiosocket_port: int | None = None,
    advertise: str | None = None,
    calling: CallingSettings | None = None,
    max_calls: int = 3,
    email: EmailSettings | None = None,
    inbound: InboundSettings | None = None,
    ami_port: int | None = None,
    idle_timeout: float = 60.0,
    web: WebSettings | None = None,
    webhook: WebhookSettings | None = None,
    transport: Literal["audiosocket", "websocket"] = "audiosocket",
    websocket_client: str = "opendeep-media",
) -> Settings:
    """`inbound` off unless given: a platform taking inbound calls points the sandbox's
    shared OPENDEEP_AUDIOSOCKET at itself (tests/support/inbound.py serialises those).
    `ami_port` reaches the sandbox's AMI through something in between (a delaying proxy)."""
    port = audiosocket_port or free_port()
    ami = AmiSettings()
    dial = DialSettings(ring_timeout=ring_timeout)
    if sandbox is not None:
        ami = AmiSettings(
            host=sandbox.ami_host,
            port=ami_port or sandbox.ami_port,
            username=sandbox.ami_username,
            secret=SecretStr(sandbox.ami_secret),
        )
        dial = DialSettings(
            channel_template=sandbox.channel_template,
            context=sandbox.agent_context,
            exten=sandbox.agent_exten,
            ring_timeout=ring_timeout,
        )
    recording = RecordingSettings(pickup_dir=data_dir / "pickup")
    if sandbox is not None:  # the chroot's folder, as Asterisk and as we see it
        recording = RecordingSettings(
            asterisk_dir=f"/{sandbox.RECORDINGS}", pickup_dir=sandbox.root / sandbox.RECORDINGS
        )
    calling = (calling or CallingSettings()).model_copy(update={"max_concurrent_calls": max_calls})
    return load_settings(
        env_file=None,
        app=AppSettings(data_dir=data_dir, node_id=f"test-{port}"),
        database=DatabaseSettings(url=database_url),
        redis=RedisSettings(url=redis_url),
        ami=ami,
        dial=dial,
        audiosocket=AudioSocketSettings(
            listen_host="127.0.0.1",
            listen_port=port,
            advertise_host=advertise,
            idle_timeout=idle_timeout,
            transport=transport,
            websocket_client=websocket_client,
        ),
        openai=OpenAISettings(api_key=SecretStr("test-key"), base_url=openai_base_url),
        calling=calling,
        web=(web or WebSettings()).model_copy(update={"host": "127.0.0.1", "port": free_port()}),
        email=email or EmailSettings(),
        inbound=inbound or InboundSettings(enabled=False),
        recording=recording,
        webhook=webhook or WebhookSettings(),
    )
