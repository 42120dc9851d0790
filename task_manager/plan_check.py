"""Why a campaign plan would be refused: one problem per field, in words a person can act on.

Every way a campaign is made goes through this one check, before anything is stored: the
chat's `propose_plan` tool and its confirmation, the test-call form, and the API's JSON
and CSV imports (web_interface/routes/api_v1_campaigns.py). So a number the chat calls
invalid is invalid in a spreadsheet too, for the same reason.

A problem names its task by index (None for the campaign's own fields) and its field, so
the API can point at a CSV row and column; `text` is the one-line form the chat shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from task_manager.orchestrator import CampaignPlan, InvalidPlan, OrchestratorService

VALUE_ERROR_PREFIX = "Value error, "


@dataclass(frozen=True, slots=True)
class PlanProblem:
    task: int | None  # index into the plan's tasks; None: the campaign's own field
    field: str  # "phone_number", "window.start", "name"; "" for the plan as a whole
    message: str
    text: str  # for the chat: "task 3 phone number: ..."

    def as_dict(self) -> dict[str, Any]:
        return {"task": self.task, "field": self.field, "message": self.message}


def check_plan(
    raw: Any, orchestrator: OrchestratorService
) -> tuple[CampaignPlan | None, list[PlanProblem]]:
    """The plan, or every reason it would be refused (and then no plan)."""
    try:
        plan = CampaignPlan.model_validate(raw)
    except ValidationError as exc:
        return None, [_from_error(error) for error in exc.errors()]
    try:
        orchestrator.prepare(plan)
    except InvalidPlan as exc:
        return None, [
            PlanProblem(
                task=p.index,
                field="phone_number",
                message=p.reason,
                text=f"task {p.index + 1} ({p.contact_name or 'unnamed'}): "
                f'"{plan.tasks[p.index].phone_number}" {p.reason}',
            )
            for p in exc.problems
        ]
    return plan, []


def plan_schema() -> dict[str, Any]:
    """The plan's JSON Schema, for the API's documentation of what a campaign takes."""
    return CampaignPlan.model_json_schema()


def _from_error(error: ErrorDetails) -> PlanProblem:
    loc = list(error["loc"])
    task = None
    if len(loc) >= 2 and loc[0] == "tasks" and isinstance(loc[1], int):
        task, loc = loc[1], loc[2:]
    field = ".".join(str(part) for part in loc)
    message = _plain(error)
    where = [f"task {task + 1}"] if task is not None else []
    where += [str(part).replace("_", " ") for part in loc if part != "tasks"]
    return PlanProblem(task, field, message, (" ".join(where) + ": " if where else "") + message)


def _plain(error: ErrorDetails) -> str:
    """Pydantic's message, said the way a person would say it where it reads oddly."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "missing":
        return "is required"
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return "must not be empty"
    message = error["msg"]
    return message.removeprefix(VALUE_ERROR_PREFIX)
