"""`python main.py demo` (`make demo`): OpenDeep with its demo parts, on this machine only.

Why the same platform as `main.py run`: the demo starts the scripted OpenAI stand-in and
a telephone line (the Asterisk sandbox where the machine can run it, else the simulated
line: lines.py), then builds the platform with `build_platform` from Settings that point
at them (OPENAI_BASE_URL, AMI_*, DIAL_CHANNEL_TEMPLATE), so every call goes through the
real scheduler, call initiator, AMI client, AudioSocket server and Realtime bridge. What
the demo changes is only what an operator's .env would set, plus two web hooks: the "Demo"
badge on every page (its tooltip names the line) and sample history for each new account.
Its data lives apart (`.demo/`, SQLite, no Redis); senders and business lookup are off, so
nothing leaves the machine; the demo's calling hours are every day, all day, because its
callees are demo callees (the product's rules still apply: a plan can only narrow them).
"""

from __future__ import annotations

from datetime import time
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings

from config import Settings
from config.settings import (
    GROUPS,
    DatabaseSettings,
    DialSettings,
    EmailSettings,
    InboundSettings,
    PlacesSettings,
    RecordingSettings,
    RedisSettings,
    SmsSettings,
)
from launcher.demo.lines import DemoLine, open_line
from launcher.demo.openai_server import DemoOpenAI
from launcher.demo.sample_history import write_sample_history
from launcher.demo.sandbox_line import LineMode
from launcher.platform import PlatformOverrides
from launcher.run import run_in_loop, run_platform

DATA_DIR = Path(".demo")
ALL_WEEK = "mon,tue,wed,thu,fri,sat,sun"


def demo_settings(base: Settings, data_dir: Path, openai: DemoOpenAI, line: DemoLine) -> Settings:
    """`base` (the operator's web, log and AudioSocket settings) pointed at the demo parts."""
    groups: dict[str, BaseSettings] = {name: getattr(base, name) for name in GROUPS}
    groups |= {
        "app": base.app.model_copy(update={"data_dir": data_dir}),
        "database": DatabaseSettings(url=None),
        "redis": RedisSettings(url=None),
        "ami": line.ami,
        "dial": DialSettings(channel_template=line.channel_template, ring_timeout=20.0),
        "audiosocket": base.audiosocket,
        "inbound": InboundSettings(enabled=False),
        "openai": base.openai.model_copy(
            update={"api_key": SecretStr(openai.key), "base_url": openai.base_url}
        ),
        "calling": base.calling.model_copy(
            update={
                "calling_hours_start": time(0, 0),
                "calling_hours_end": time(23, 59, 59, 999999),
                "calling_days": ALL_WEEK,
                "max_concurrent_calls": 3,
            }
        ),
        "web": base.web,
        "sms": SmsSettings(),
        "email": EmailSettings(),
        "places": PlacesSettings(),
        "recording": RecordingSettings(pickup_dir=data_dir / "recordings-pickup"),
    }  # fmt: skip
    return Settings(**groups)


def demo_overrides(line: DemoLine) -> PlatformOverrides:
    return PlatformOverrides(demo=True, demo_line=line.name, on_signup=write_sample_history)


async def run_demo(base: Settings, data_dir: Path, mode: LineMode) -> int:
    async with DemoOpenAI() as openai, open_line(mode) as line:
        settings = demo_settings(base, data_dir, openai, line)
        web = settings.web
        print(
            f"OpenDeep demo: open http://{web.host}:{web.port} and sign up with any email.\n"
            f"Scripted assistant and call agent, {line.name}, demo callees; "
            f"data in {data_dir}/. Ctrl+C stops it.",
            flush=True,
        )
        return await run_platform(settings, demo_overrides(line))


def run(base: Settings, data_dir: Path = DATA_DIR, line: str = "auto") -> int:
    """`line` is `--line`: auto, sandbox or simulated."""
    return run_in_loop(base, run_demo(base, data_dir, LineMode(line)))
