"""The LLM's reading of an answered call: did it reach the task's objective, and what next.

Structured output with a strict JSON schema, so the reply is either a valid verdict or an
error we fall back from (to the agent's own end_call outcome) — never free text to parse.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from openai import AsyncOpenAI, OpenAIError
from openai.types.shared_params.response_format_json_schema import JSONSchema
from pydantic import BaseModel, ValidationError

log = logging.getLogger(__name__)


class Decision(StrEnum):
    SUCCESS = "success"
    RETRY = "retry"
    FAILED = "failed"
    NEEDS_USER = "needs_user"
    DO_NOT_CALL = "do_not_call"


@dataclass(frozen=True, slots=True)
class Verdict:
    decision: Decision
    reason: str
    source: str  # rule | llm | agent
    result: dict[str, Any] | None = None  # what a success obtained (time, price, name...)
    retry_after_minutes: float | None = None  # None = the backoff policy decides
    notes: str = ""  # strategy for the next attempt


@dataclass(frozen=True, slots=True)
class CallMaterial:
    """Everything the judge reads about one call."""

    objective: str
    success_criteria: str
    contact_name: str
    transcript: Sequence[tuple[str, str]]  # (speaker, text) in order
    facts: Mapping[str, Any] = field(default_factory=dict)
    hangup_cause: str = ""
    ended_by: str | None = None  # far_end | agent | platform
    amd_status: str | None = None
    answered_by: str | None = None  # person | machine, as the call heard it
    message_left: bool | None = None
    hold_seconds: float | None = None
    agent_outcome: str | None = None
    agent_summary: str = ""
    agent_audio_ms: tuple[int, int] | None = None  # (played to the callee, generated)
    attempt_number: int = 1
    max_attempts: int = 1
    called_back: bool = False  # the contact rang us back (an inbound call), not an attempt


class JudgeFailed(Exception):
    """The model could not be asked or answered nonsense; use the fallback."""


class _Pair(BaseModel):
    key: str
    value: str


class _Reply(BaseModel):
    decision: Decision
    reason: str
    result: list[_Pair]
    retry_after_minutes: float | None
    notes_for_next_attempt: str


VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["decision", "reason", "result", "retry_after_minutes", "notes_for_next_attempt"],
    "properties": {
        "decision": {"type": "string", "enum": [d.value for d in Decision]},
        "reason": {"type": "string"},
        "result": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["key", "value"],
                "properties": {"key": {"type": "string"}, "value": {"type": "string"}},
            },
        },
        "retry_after_minutes": {"type": ["number", "null"]},
        "notes_for_next_attempt": {"type": "string"},
    },
}

JSON_SCHEMA: JSONSchema = {"name": "call_verdict", "strict": True, "schema": VERDICT_SCHEMA}

INSTRUCTIONS = """You review one phone call an AI agent made on a person's behalf.
Decide what happens to the task:
- success: the objective was met per the success criteria; put what was obtained in result.
- retry: worth calling again (callback requested, voicemail, wrong moment); give
  retry_after_minutes if the callee named a time, else null.
- failed: cannot be achieved by calling this number again.
- needs_user: the person must decide or provide something before anything else happens.
- do_not_call: the callee asked not to be called again.
Give a one-sentence reason, and notes that would help the next attempt."""


def render(material: CallMaterial) -> str:
    lines = [
        f"Objective: {material.objective}",
        f"Success criteria: {material.success_criteria or '(none given)'}",
        f"Contact: {material.contact_name or '(unknown)'}",
        (
            "The contact called us back (after our attempts)"
            if material.called_back
            else f"Attempt {material.attempt_number} of {material.max_attempts}"
        ),
        f"Answering machine detection: {material.amd_status or 'not run'}",
        f"Answered by: {_answered_by(material.answered_by, material.message_left)}",
        f"Time on hold: {_held(material.hold_seconds)}",
        f"Hangup cause: {material.hangup_cause or 'unknown'}",
        f"Who hung up: {(material.ended_by or 'unknown').replace('_', ' ')}",
        f"Agent's speech heard by the callee: {_heard(material.agent_audio_ms)}",
        f"Agent's outcome: {material.agent_outcome or '(none)'}",
        f"Agent's summary: {material.agent_summary or '(none)'}",
        f"Facts recorded: {json.dumps(dict(material.facts), ensure_ascii=False)}",
        "Transcript:",
    ]
    lines += [f"{speaker}: {text}" for speaker, text in material.transcript] or ["(empty)"]
    return "\n".join(lines)


def _answered_by(answered_by: str | None, message_left: bool | None) -> str:
    if answered_by != "machine":
        return answered_by or "unknown"
    return "an answering machine" + (", a message was left" if message_left else "")


def _held(seconds: float | None) -> str:
    return "none" if not seconds else f"{seconds / 60:.1f} min"


def _heard(audio_ms: tuple[int, int] | None) -> str:
    """Played of generated: a callee who cut the agent off heard less than it said."""
    if audio_ms is None:
        return "unknown"
    played, generated = audio_ms
    return f"{played / 1000:.1f} s of {generated / 1000:.1f} s"


class LlmJudge:
    """Reads one call with the chat model through the process's chat client."""

    def __init__(self, client: AsyncOpenAI, model: str, timeout: float = 30.0) -> None:
        self.client = client
        self.model = model
        self.timeout = timeout

    async def judge(self, material: CallMaterial) -> Verdict:
        try:
            completion = await self.client.chat.completions.create(
                model=self.model,
                messages=[
                    {"role": "system", "content": INSTRUCTIONS},
                    {"role": "user", "content": render(material)},
                ],
                response_format={"type": "json_schema", "json_schema": JSON_SCHEMA},
                timeout=self.timeout,
            )
            content = completion.choices[0].message.content or ""
            reply = _Reply.model_validate_json(content)
        except (OpenAIError, ValidationError, IndexError) as exc:
            raise JudgeFailed(type(exc).__name__) from exc
        return Verdict(
            decision=reply.decision,
            reason=reply.reason,
            source="llm",
            result={p.key: p.value for p in reply.result} or None,
            retry_after_minutes=reply.retry_after_minutes,
            notes=reply.notes_for_next_attempt,
        )
