"""The OpenAI clients of one process, built in one place for `run`, `doctor` and the tests.

Why one place: a client built with a type the SDK does not own (an `httpx.Timeout`, while
the SDK's HTTP stack is another package) once crashed start-up after a dependency moved.
Every path that needs a client calls these functions, with the SDK's own types only, so
`doctor` fails exactly where `run` would, and the type checker sees every construction.
"""

from __future__ import annotations

from dataclasses import dataclass

from openai import AsyncOpenAI, Timeout

from config.settings import OpenAISettings

CHAT_TIMEOUT = 60.0  # seconds per chat request (a streamed plan can take a while)
CONNECT_TIMEOUT = 10.0


def chat_client(api_key: str, base_url: str, *, timeout: float = CHAT_TIMEOUT) -> AsyncOpenAI:
    """For chat completions (the planning assistant, the post-call judge): one retry."""
    return AsyncOpenAI(
        api_key=api_key,
        base_url=base_url,
        timeout=Timeout(timeout, connect=CONNECT_TIMEOUT),
        max_retries=1,
    )


def realtime_client(api_key: str, base_url: str) -> AsyncOpenAI:
    """For Realtime sessions: no HTTP retries (a new socket is a new session anyway)."""
    return AsyncOpenAI(api_key=api_key, base_url=base_url, max_retries=0)


@dataclass(frozen=True, slots=True)
class OpenAIClients:
    """Shared by every session and request of the process."""

    chat: AsyncOpenAI
    realtime: AsyncOpenAI

    async def aclose(self) -> None:
        await self.chat.close()
        await self.realtime.close()


def build_openai_clients(settings: OpenAISettings) -> OpenAIClients | None:
    """None without a key: calls and the assistant are off, and the pages say so."""
    if settings.api_key is None:
        return None
    key = settings.api_key.get_secret_value()
    return OpenAIClients(
        chat=chat_client(key, settings.base_url),
        realtime=realtime_client(key, settings.base_url),
    )
