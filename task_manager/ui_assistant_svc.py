"""The planning chat: a streamed conversation with an LLM that ends in a campaign plan.

The model talks through chat completions with tool calling (the official openai SDK,
base URL from OpenAISettings). Its tools are `propose_plan`, validated here exactly as
the orchestrator will validate it on confirmation (so "that number is not valid" comes
from the same rules that would refuse it), and `lookup_businesses` when a Places key is
configured. Each reply is a stream of JSON-ready events for the web page:

    {"type": "conversation", "id": 7}         first, so the page can keep talking to it
    {"type": "delta", "text": "..."}          the assistant's words as they arrive
    {"type": "tool", "name": "lookup_businesses"}
    {"type": "plan", "plan": {...}}           a plan that passed validation
    {"type": "problems", "problems": [...]}   a plan that did not (the model explains)
    {"type": "error", "message": "..."}       the model could not be reached
    {"type": "done"}

The conversation is saved after every model round, so a page closed mid-reply loses at
most the round in flight.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, cast
from zoneinfo import ZoneInfo

from openai import AsyncOpenAI, OpenAIError
from openai.types.chat import ChatCompletionMessageParam
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.phone_numbers import to_e164
from config.settings import CallingSettings, OpenAISettings, PlacesSettings
from database.errors import NotFound
from database.models import Conversation, User
from database.repositories import conversations, dnd, tasks, users
from database.types import utcnow
from task_manager import assistant_prompt
from task_manager.business_lookup import LookupFailed, PlacesLookup
from task_manager.notifier import Notifier
from task_manager.orchestrator import ALL_DAY, CampaignPlan, OrchestratorService, TaskPlan
from task_manager.phone_code_delivery import PhoneCodeDelivery
from task_manager.plan_check import check_plan, plan_schema

log = logging.getLogger(__name__)
NO_KEY = (
    "The assistant needs an OpenAI key. Set OPENAI_API_KEY in .env, then restart "
    "(python main.py doctor checks). Meanwhile you can build a plan by hand."
)
MAX_ROUNDS = 5  # model turns per reply: lookups and a re-proposed plan, then it must speak
HISTORY = 80  # messages sent back to the model
Event = dict[str, Any]


@dataclass
class _Round:
    """One streamed model answer, put back together."""

    content: str = ""
    calls: dict[int, dict[str, Any]] = field(default_factory=dict)

    def add_call_delta(self, delta: Any) -> None:
        call = self.calls.setdefault(
            delta.index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
        )
        call["id"] = delta.id or call["id"]
        if delta.function is not None:
            call["function"]["name"] += delta.function.name or ""
            call["function"]["arguments"] += delta.function.arguments or ""

    def message(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.content or None}
        if self.calls:
            message["tool_calls"] = [self.calls[i] for i in sorted(self.calls)]
        return message


def plan_problems(
    raw: Any, orchestrator: OrchestratorService
) -> tuple[CampaignPlan | None, list[str]]:
    """The plan, or every reason it would be refused, in words a person can act on."""
    plan, problems = check_plan(raw, orchestrator)
    return plan, [p.text for p in problems]


ON_YOUR_LIST = (
    "This number is on your do-not-call list, so it is not called. Remove it from the "
    "list (Do not call) first if you want to call it."
)
NAME_LENGTH = 60


def _short(text: str) -> str:
    """A name made from an objective: its first line, cut at a word near NAME_LENGTH."""
    line = " ".join(text.split())
    if len(line) <= NAME_LENGTH:
        return line
    return line[:NAME_LENGTH].rsplit(" ", 1)[0].rstrip(",.;:") + "…"


def _named(plan: Any) -> Any:
    """The plan with a name from its goal or first objective when it was left blank."""
    if not isinstance(plan, dict) or str(plan.get("name") or "").strip():
        return plan
    tasks_ = plan.get("tasks")
    first = tasks_[0] if isinstance(tasks_, list) and tasks_ else {}
    source = str(plan.get("goal") or (first.get("objective") if isinstance(first, dict) else ""))
    return {**plan, "name": _short(source)} if source.strip() else plan


def _as_sdk(messages: list[dict[str, Any]]) -> list[ChatCompletionMessageParam]:
    """The stored conversation, typed as the SDK's messages: it holds only what the SDK
    produced or accepted before (user text, assistant turns, tool results)."""
    return cast("list[ChatCompletionMessageParam]", messages)


class UiAssistantService:
    """What web_interface's ChatAssistant protocol asks for: reply, confirm, test_call."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        client: AsyncOpenAI | None,
        chat_model: str,
        orchestrator: OrchestratorService,
        places: PlacesLookup | None = None,
        phone_codes: PhoneCodeDelivery | None = None,
    ) -> None:
        """`client` is the process's chat client (None without OPENAI_API_KEY);
        `phone_codes` delivers verification codes (by a call unless given SMS)."""
        self.sessions = sessions
        self.chat_model = chat_model
        self.orchestrator = orchestrator
        self.places = places
        self.phone_codes = phone_codes or PhoneCodeDelivery(sessions)
        self._client = client

    @classmethod
    def from_settings(
        cls,
        sessions: async_sessionmaker[AsyncSession],
        client: AsyncOpenAI | None,
        openai: OpenAISettings,
        places: PlacesSettings,
        calling: CallingSettings,
        notifier: Notifier | None = None,
    ) -> UiAssistantService:
        """What the platform builds: the lookup tool exists only with a Places key; codes
        go by text when the notifier can send SMS."""
        lookup = PlacesLookup(places) if places.api_key is not None else None
        orchestrator = OrchestratorService(sessions, calling)
        codes = PhoneCodeDelivery(sessions, notifier)
        return cls(sessions, client, openai.chat_model, orchestrator, lookup, codes)

    def unavailable(self) -> str | None:
        """Why the assistant cannot answer, with the next step; None when it can."""
        return NO_KEY if self._client is None else None

    async def aclose(self) -> None:
        """The chat client is the platform's; only the lookup's client is ours."""
        if self.places is not None:
            await self.places.aclose()

    async def reply(
        self, user_id: int, conversation_id: int | None, text: str
    ) -> AsyncIterator[Event]:
        """Stream the assistant's answer to `text`; raises NotFound for another's chat.

        Without a key nothing is stored: a message that can get no reply would only pile
        up as a conversation nobody answers; the page keeps it for a retry instead."""
        if self._client is None:
            yield {"type": "error", "message": NO_KEY}
            yield {"type": "done"}
            return
        user, chat = await self._open(user_id, conversation_id, text)
        yield {"type": "conversation", "id": chat.id}
        messages = [*chat.messages, {"role": "user", "content": text}]
        await self._save(user_id, chat.id, messages=messages)
        try:
            for _ in range(MAX_ROUNDS):
                turn = _Round()
                async for event in self._stream(user, messages, turn):
                    yield event
                messages.append(turn.message())
                if not turn.calls:
                    break
                async for event in self._run_tools(user_id, chat.id, turn, messages):
                    yield event
                await self._save(user_id, chat.id, messages=messages)
        except OpenAIError as exc:
            log.warning("assistant model failed", extra={"error": type(exc).__name__})
            yield {"type": "error", "message": "The assistant could not be reached; try again."}
        await self._save(user_id, chat.id, messages=messages)
        yield {"type": "done"}

    async def _open(
        self, user_id: int, conversation_id: int | None, text: str
    ) -> tuple[User, Conversation]:
        async with self.sessions() as s, s.begin():
            user = await users.get_or_raise(s, user_id)
            if conversation_id is None:
                chat = await conversations.create(s, user_id=user_id, title=text[:80])
            else:
                found = await conversations.get(s, user_id=user_id, conversation_id=conversation_id)
                if found is None:
                    raise NotFound("conversation not found")
                chat = found
        return user, chat

    async def _save(self, user_id: int, conversation_id: int, **changes: Any) -> None:
        if "messages" in changes:
            changes["messages"] = list(changes["messages"])  # a new list: JSON change seen
        async with self.sessions() as s, s.begin():
            await conversations.update(
                s, user_id=user_id, conversation_id=conversation_id, **changes
            )

    async def _stream(
        self, user: User, messages: list[dict[str, Any]], turn: _Round
    ) -> AsyncIterator[Event]:
        assert self._client is not None
        can_look_up = self.places is not None
        system = assistant_prompt.instructions(
            display_name=user.display_name,
            email=user.email,
            phone_number=user.phone_number,
            time_zone=user.time_zone,
            profile=user.profile,
            now=utcnow().astimezone(ZoneInfo(user.time_zone or "UTC")),
            can_look_up=can_look_up,
        )
        stream = await self._client.chat.completions.create(
            model=self.chat_model,
            messages=[{"role": "system", "content": system}, *_as_sdk(messages[-HISTORY:])],
            tools=assistant_prompt.tools(can_look_up),
            stream=True,
        )
        async for chunk in stream:
            if not chunk.choices:
                continue
            delta = chunk.choices[0].delta
            if delta.content:
                turn.content += delta.content
                yield {"type": "delta", "text": delta.content}
            for call in delta.tool_calls or []:
                turn.add_call_delta(call)

    async def _run_tools(
        self, user_id: int, conversation_id: int, turn: _Round, messages: list[dict[str, Any]]
    ) -> AsyncIterator[Event]:
        for call in turn.message()["tool_calls"]:
            name = call["function"]["name"]
            yield {"type": "tool", "name": name}
            try:
                args = json.loads(call["function"]["arguments"] or "{}")
            except json.JSONDecodeError:
                args = None
            if not isinstance(args, dict):
                result: dict[str, Any] = {"error": "arguments were not a JSON object"}
            elif name == "propose_plan":
                result, event = await self._propose(user_id, conversation_id, args.get("plan"))
                yield event
            elif name == "lookup_businesses" and self.places is not None:
                result = await self._lookup(args)
            else:
                result = {"error": f"no tool named {name}"}
            messages.append(
                {"role": "tool", "tool_call_id": call["id"], "content": json.dumps(result)}
            )

    async def _propose(
        self, user_id: int, conversation_id: int, raw: Any
    ) -> tuple[dict[str, Any], Event]:
        plan, problems = plan_problems(raw, self.orchestrator)
        if plan is None:
            return {"accepted": False, "problems": problems}, {
                "type": "problems",
                "problems": problems,
            }
        shown = plan.model_dump(mode="json")
        await self._save(user_id, conversation_id, plan=shown)
        return {"accepted": True, "note": "shown to the person to edit and confirm"}, {
            "type": "plan",
            "plan": shown,
        }

    async def _lookup(self, args: dict[str, Any]) -> dict[str, Any]:
        assert self.places is not None
        query, near = str(args.get("query", "")), str(args.get("near", ""))
        if not query.strip():
            return {"error": "query is empty"}
        try:
            found = await self.places.search(query, near)
        except LookupFailed as exc:
            return {"error": str(exc)}
        return {"businesses": [b.as_tool_result() for b in found]}

    async def confirm(
        self, user_id: int, conversation_id: int | None, plan: dict[str, Any]
    ) -> dict[str, Any]:
        """Create the campaign: {"campaign_id": n} or {"problems": [...]}, nothing stored.
        A plan without a name is named from its goal or its first call's objective. The
        check runs in a worker thread: 5,000 numbers take about a second to parse, which
        would otherwise stall the event loop that paces live calls' audio."""
        named = _named(plan)
        checked, problems = await asyncio.to_thread(plan_problems, named, self.orchestrator)
        if checked is None:
            return {"problems": problems}
        if conversation_id is not None:
            async with self.sessions() as s:
                owned = await conversations.get(s, user_id=user_id, conversation_id=conversation_id)
            if owned is None:
                raise NotFound("conversation not found")
        created = await self.orchestrator.create_campaign(user_id, checked)
        if conversation_id is not None:
            await self._save(
                user_id,
                conversation_id,
                plan=checked.model_dump(mode="json"),
                campaign_id=created.campaign_id,
            )
        log.info("campaign confirmed", extra={"campaign_id": created.campaign_id})
        return {"campaign_id": created.campaign_id, "task_ids": created.task_ids}

    async def check_plan(self, plan: dict[str, Any]) -> list[dict[str, Any]]:
        """Every reason `confirm` would refuse this plan, each naming its task and field
        (in a worker thread, as in `confirm`)."""
        _, problems = await asyncio.to_thread(check_plan, _named(plan), self.orchestrator)
        return [p.as_dict() for p in problems]

    def plan_schema(self) -> dict[str, Any]:
        """The JSON Schema of what `confirm` takes (the API documents its body with it)."""
        return plan_schema()

    async def test_call(self, user_id: int, phone_number: str, objective: str) -> dict[str, Any]:
        """A one-task campaign due now, at the top priority: the person is waiting on it.

        Why a campaign rather than a direct call: the call then goes through the same
        scheduler, do-not-call lists, calling hours (the operator's, which no plan can
        widen: at night it waits for the morning), agent instructions and post-call
        analysis as real work, so the test shows what a campaign call would do.
        """
        try:
            number = to_e164(phone_number, self.orchestrator.calling.default_region)
        except ValueError as exc:
            return {"problems": [f'The number "{phone_number.strip()}" {exc}.']}
        async with self.sessions() as s:
            if await dnd.is_listed(s, user_id=user_id, phone_number=number):
                return {"problems": [ON_YOUR_LIST]}
        plan = {
            "name": f"Test call: {_short(objective)}",
            "goal": objective,
            "tasks": [
                TaskPlan(
                    contact_name="Test call",
                    phone_number=phone_number,
                    objective=objective,
                    max_attempts=1,
                    priority=tasks.MAX_PRIORITY,  # the person is waiting on it
                    window=ALL_DAY,
                ).model_dump(mode="json")
            ],
        }
        return await self.confirm(user_id, None, plan)

    async def send_phone_code(
        self, user_id: int, phone_number: str, code: str, valid_minutes: int
    ) -> dict[str, Any]:
        """Deliver a verification code to the person's own number (phone_code_delivery.py)."""
        return await self.phone_codes.send(user_id, phone_number, code, valid_minutes)
