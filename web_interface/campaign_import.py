"""Campaigns made by scripts: a JSON plan, or a CSV of contacts, through the chat's path.

Both go through the ChatAssistant (assistant.py): `check_plan` is the check the chat's
own plans pass, and `confirm` the one way a campaign and its tasks are written, so a
campaign made by the API is exactly like one confirmed in the chat (numbers checked with
the product's phone check, the same defaults; do-not-call lists apply when each task is
claimed and again before dialing, as for every campaign).

A CSV is all or nothing unless `partial`: then the good rows are stored and the bad ones
reported. A problem with the campaign's own fields (its name, its voicemail policy) is
never partial: nothing is stored.
"""

from __future__ import annotations

from typing import Any

from web_interface.api_errors import ApiError
from web_interface.assistant import ChatAssistant
from web_interface.campaign_csv import CsvRow, RowProblem, column_of
from web_interface.v1_schemas import CampaignCreatedV1, CsvImported, ImportedRow, RowProblemV1


async def from_plan(assistant: ChatAssistant, user_id: int, plan: dict[str, Any]) -> dict[str, Any]:
    """{"campaign_id", "task_ids"}; ApiError 422 listing every problem, nothing stored."""
    problems = await assistant.check_plan(plan)
    if problems:
        raise ApiError(
            422,
            f"the campaign was not created: {_count(len(problems), 'problem')} (see details)",
            code="invalid_plan",
            details=problems,
        )
    return await _confirm(assistant, user_id, plan)


async def _confirm(assistant: ChatAssistant, user_id: int, plan: dict[str, Any]) -> dict[str, Any]:
    created = await assistant.confirm(user_id, None, plan)
    if "problems" in created:  # the plan changed meaning between check and confirm
        details = [{"task": None, "field": "", "message": p} for p in created["problems"]]
        raise ApiError(422, "the campaign was not created", code="invalid_plan", details=details)
    return CampaignCreatedV1(**created).model_dump()


async def from_csv(
    assistant: ChatAssistant,
    user_id: int,
    campaign: dict[str, Any],
    rows: list[CsvRow],
    unreadable: list[RowProblem],
    partial: bool,
) -> dict[str, Any]:
    """The campaign from the good rows, with a report of the bad ones (see module doc)."""
    problems = list(unreadable)
    if rows:
        found = await assistant.check_plan({**campaign, "tasks": [r.task for r in rows]})
        _refuse_campaign_fields([p for p in found if p["task"] is None])
        problems += [
            RowProblem(rows[p["task"]].row, column_of(p["field"]), p["message"]) for p in found
        ]
    problems.sort(key=lambda p: p.row)
    bad = {p.row for p in problems}
    good = [r for r in rows if r.row not in bad]
    received = len(rows) + len({p.row for p in unreadable})
    if bad and (not partial or not good):
        raise ApiError(422, _refusal(len(bad), received, partial), code="invalid_rows",
                       details=[p.as_dict() for p in problems])  # fmt: skip
    created = await _confirm(assistant, user_id, {**campaign, "tasks": [r.task for r in good]})
    return CsvImported(
        **created,
        rows_received=received,
        rows_stored=len(good),
        tasks=[
            ImportedRow(row=r.row, task_id=t)
            for r, t in zip(good, created["task_ids"], strict=True)
        ],
        problems=[RowProblemV1(**p.as_dict()) for p in problems],
    ).model_dump()


def _refuse_campaign_fields(problems: list[dict[str, Any]]) -> None:
    if problems:
        raise ApiError(
            422,
            "the campaign's own fields are not valid; nothing was stored",
            code="invalid_plan",
            details=problems,
        )


def _refusal(bad: int, received: int, partial: bool) -> str:
    if partial:
        return f"none of the {_count(received, 'row')} can be stored; nothing was stored"
    verb = "has" if bad == 1 else "have"
    return (
        f"{bad} of {_count(received, 'row')} {verb} problems; nothing was stored "
        "(fix them, or send partial=true to store the good rows)"
    )


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
