"""The platform as a newcomer runs it: no OPENAI_API_KEY, no AMI_SECRET, so calls are off.

Built with launcher.platform.build_platform from Settings, like `main.py run`, so the
banner, the reasons and the chat's error state come from the service graph users run.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from config.settings import AmiSettings, OpenAISettings
from launcher.platform import Platform, build_platform
from tests.support.platform_settings import platform_settings
from tests.web.conftest import PASSWORD, csrf_from


@dataclass
class Keyless:
    platform: Platform
    base_url: str


@asynccontextmanager
async def keyless_platform(data_dir: Path) -> AsyncIterator[Keyless]:
    settings = platform_settings(data_dir)
    settings.openai = OpenAISettings(api_key=None)  # what an empty .env gives
    settings.ami = AmiSettings(secret=None)
    async with build_platform(settings) as platform:
        yield Keyless(platform, f"http://127.0.0.1:{platform.web_port}")


async def signed_up(base_url: str, email: str) -> httpx.AsyncClient:
    """A client with a session (signed up through the form) and its CSRF header set."""
    client = httpx.AsyncClient(base_url=base_url, headers={"Accept": "text/html"})
    token = csrf_from((await client.get("/signup")).text)
    made = await client.post(
        "/signup", data={"csrf_token": token, "email": email, "password": PASSWORD}
    )
    assert made.status_code == 303, made.text
    client.headers["X-CSRF-Token"] = csrf_from((await client.get("/")).text)
    return client


def form_csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no form"
    return found.group(1)
