"""What the web app needs from the planning assistant; main.py passes the real one.

A Protocol, not an import: web_interface never imports task_manager (the layers of
docs/architecture.md). Everything crossing it is JSON-ready (ids, dicts, strings), so the
pages and the JSON API can hand it straight to the browser.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol


class ChatAssistant(Protocol):
    def unavailable(self) -> str | None:
        """Why the assistant cannot answer now, with the next step; None when it can.
        Plans made by hand (`confirm` without a conversation) work either way."""
        ...

    def reply(
        self, user_id: int, conversation_id: int | None, text: str
    ) -> AsyncIterator[dict[str, Any]]:
        """Stream events for one message (`conversation`, `delta`, `tool`, `plan`,
        `problems`, `error`, `done`); raises database.errors.NotFound for a conversation
        that is not this user's."""
        ...

    async def confirm(
        self, user_id: int, conversation_id: int | None, plan: dict[str, Any]
    ) -> dict[str, Any]:
        """Create the campaign: {"campaign_id", "task_ids"} or {"problems": [...]}."""
        ...

    async def check_plan(self, plan: dict[str, Any]) -> list[dict[str, Any]]:
        """Every reason `confirm` would refuse the plan, nothing stored: a list of
        {"task": index or None (the campaign's own fields), "field", "message"}."""
        ...

    def plan_schema(self) -> dict[str, Any]:
        """The JSON Schema of the plan `confirm` takes (for the API's documentation)."""
        ...

    async def test_call(self, user_id: int, phone_number: str, objective: str) -> dict[str, Any]:
        """Place one call now: {"campaign_id", "task_ids"} or {"problems": [...]}."""
        ...

    async def send_phone_code(
        self, user_id: int, phone_number: str, code: str, valid_minutes: int
    ) -> dict[str, Any]:
        """Send a verification code to the person's own number: by text when SMS is
        configured, else by a call whose agent reads it out. {"channel": "sms"},
        {"channel": "call", "campaign_id"} or {"problems": [...]}."""
        ...
