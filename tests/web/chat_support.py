"""The planning assistant over a real database, a fake LLM and (optionally) fake Places."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from pydantic import SecretStr

from config.settings import CallingSettings, OpenAISettings, PlacesSettings
from launcher.openai_clients import build_openai_clients
from task_manager.business_lookup import FIELD_MASK, PlacesLookup
from task_manager.orchestrator import OrchestratorService
from task_manager.ui_assistant_svc import UiAssistantService
from tests.support.fake_twilio import HttpRequest, LocalHttpServer
from tests.web.fake_llm import KEY, FakeChatServer

PLACES_KEY = "places-test-key"
DENTIST = {
    "displayName": {"text": "Bright Smiles Dental", "languageCode": "en"},
    "nationalPhoneNumber": "(415) 555-0123",
    "internationalPhoneNumber": "+1 415-555-0123",
    "formattedAddress": "1 Main St, San Francisco, CA",
    "regularOpeningHours": {
        "periods": [
            {"open": {"day": d, "hour": 8, "minute": 30}, "close": {"day": d, "hour": 17}}
            for d in (1, 2, 3, 4)
        ]
        + [{"open": {"day": 5, "hour": 9, "minute": 0}, "close": {"day": 5, "hour": 16}}],
        "weekdayDescriptions": ["Monday: 8:30 AM - 5:00 PM"],
    },
}


class FakePlaces:
    """Answers only the exact Text Search request the Places API (New) expects."""

    def __init__(self) -> None:
        self.queries: list[dict[str, Any]] = []

    async def handle(self, request: HttpRequest) -> tuple[int, Any]:
        if (request.method, request.path) != ("POST", "/v1/places:searchText"):
            return 404, {"error": {"code": 404, "message": "not found"}}
        if request.headers.get("x-goog-api-key") != PLACES_KEY:
            return 403, {"error": {"code": 403, "message": "API key not valid"}}
        if request.headers.get("x-goog-fieldmask") != FIELD_MASK:
            return 400, {"error": {"code": 400, "message": "FieldMask is a required parameter"}}
        if request.headers.get("content-type") != "application/json":
            return 400, {"error": {"code": 400, "message": "JSON body expected"}}
        self.queries.append(request.json())
        return 200, {"places": [DENTIST]}


def make_service(
    sessions: Any, llm: FakeChatServer, places_url: str | None = None
) -> UiAssistantService:
    openai = OpenAISettings(api_key=SecretStr(KEY), base_url=llm.base_url, chat_model="plan-1")
    lookup = None
    if places_url is not None:
        lookup = PlacesLookup(PlacesSettings(api_key=SecretStr(PLACES_KEY), base_url=places_url))
    orchestrator = OrchestratorService(sessions, CallingSettings(default_region="US"))
    clients = build_openai_clients(openai)
    assert clients is not None
    return _ClosesItsClient(sessions, clients.chat, openai.chat_model, orchestrator, lookup)


class _ClosesItsClient(UiAssistantService):
    """In the product the platform owns the chat client; here the test's service does."""

    async def aclose(self) -> None:
        await super().aclose()
        if self._client is not None:
            await self._client.close()


@contextlib.asynccontextmanager
async def places_server() -> AsyncIterator[tuple[FakePlaces, str]]:
    fake = FakePlaces()
    async with LocalHttpServer(fake.handle) as server:
        yield fake, server.base_url


async def collect(events: AsyncIterator[dict[str, Any]]) -> list[dict[str, Any]]:
    return [event async for event in events]
