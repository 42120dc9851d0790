"""The brief of one call, from what the scheduler put in its context and the person's profile.

Why here (call_processor): the context arrives with the call request from task_manager
(its `agent_context`: the task, the campaign, the attempt, what earlier attempts learned)
and the profile is read from the person's own row; audio_processing/call_brief.py turns
the brief into words. Pure: no I/O, so it is tested on plain dicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from audio_processing.call_brief import CallBrief, EarlierAttempt
from audio_processing.never_share import kinds
from common.call_policy import CallPolicy, RecordingPolicy
from database.profile import Profile
from database.states import CallDirection


def brief_from_context(
    ctx: Mapping[str, Any], on_behalf_of: str, profile: Profile, now: datetime
) -> CallBrief:
    """The brief from what the scheduler put in the call's context (task_manager's
    `agent_context`): the task, the campaign, this attempt and what earlier ones learned."""
    policy = CallPolicy.from_context(ctx)
    return CallBrief(
        returning_call=returning_call(ctx),
        objective=str(ctx.get("objective", "")),
        on_behalf_of=on_behalf_of,
        person_said=str(ctx.get("context", "")),
        success_criteria=str(ctx.get("success_criteria", "")),
        callee=str(ctx.get("contact_name", "")),
        campaign_goal=str(ctx.get("campaign_goal", "")),
        language=str(ctx.get("language", "")),
        attempt_number=_int(ctx.get("attempt_number"), 1),
        max_attempts=_int(ctx.get("max_attempts"), 1),
        earlier_attempts=earlier_attempts(ctx.get("inter_call_context")),
        callee_local_time=_local_time(ctx, now),
        allowed_facts=dict(profile.facts),
        never_share=kinds(profile.never_share),
        voicemail_policy=policy.voicemail,
        announce_recording=policy.recording is RecordingPolicy.ANNOUNCE,
        **({"disclosure": str(ctx["disclosure"])} if ctx.get("disclosure") else {}),
    )


def returning_call(ctx: Mapping[str, Any]) -> str | None:
    """None for a call we place; for a call-back (call_processor/inbound_calls.py), what
    the last attempt came to ("" when nothing is known)."""
    if ctx.get("direction") != CallDirection.INBOUND:
        return None
    attempts = earlier_attempts(ctx.get("inter_call_context"))
    if not attempts:
        return ""
    last = attempts[-1]
    return f"{last.outcome}. {last.summary}".strip() if last.summary else last.outcome


def earlier_attempts(notes: object) -> tuple[EarlierAttempt, ...]:
    """The task's history (written by task_manager's analyzer) as the agent reads it."""
    history = notes.get("history") if isinstance(notes, Mapping) else None
    out: list[EarlierAttempt] = []
    for entry in history if isinstance(history, list) else []:
        if not isinstance(entry, Mapping):
            continue
        facts = entry.get("facts")
        out.append(
            EarlierAttempt(
                number=_int(entry.get("attempt"), len(out) + 1),
                outcome=_in_words(entry),
                summary=str(entry.get("summary") or ""),
                facts={str(k): str(v) for k, v in facts.items()}
                if isinstance(facts, Mapping)
                else {},
                callback=str(entry.get("callback") or ""),
            )
        )
    return tuple(out)


def _local_time(ctx: Mapping[str, Any], now: datetime) -> str:
    """ "Tuesday 2026-12-08 10:30 (America/New_York)"; nothing when the zone is unknown
    (a wrong local time would mislead the agent more than none)."""
    try:
        zone = ZoneInfo(str(ctx.get("callee_time_zone") or ""))
    except (ZoneInfoNotFoundError, ValueError):
        return ""
    return f"{now.astimezone(zone):%A %Y-%m-%d %H:%M} ({zone.key})"


# How an earlier call ended, as the agent is told (call outcome labels: database/states.py
# CallStatus and common/call_outcomes.py AgentOutcome).
OUTCOME_WORDS = {
    "busy": "the line was busy",
    "no_answer": "nobody answered",
    "congestion": "the call did not get through",
    "failed": "the call could not be placed",
    "ai_failure": "the call broke off on our side",
    "interrupted": "the call was cut off on our side",
    "callback_requested": "the callee asked to be called back",
    "voicemail": "it reached voicemail",
    "needs_user": "the callee needed a decision from the person",
    "failure": "the objective could not be met then",
    "success": "the objective was met",
    "wrong_number": "it was a wrong number",
    "transferred": "the call was handed to the person",
}


def _in_words(entry: Mapping[str, Any]) -> str:
    known = OUTCOME_WORDS.get(str(entry.get("outcome") or ""))
    return known or str(entry.get("reason") or entry.get("decision") or "no clear outcome")


def _int(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def callee_zone(ctx: Mapping[str, Any]) -> ZoneInfo:
    """The callee's time zone the scheduler chose (UTC when it gave none)."""
    try:
        return ZoneInfo(str(ctx.get("callee_time_zone") or "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")
