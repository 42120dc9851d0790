"""/api/v1 campaigns: create one from a JSON plan or a CSV of contacts, list, read, pause,
resume and cancel (web_interface/campaign_import.py, live_control.py).

Writing needs an API token with the `calls` scope (or a session and its CSRF header);
reading, `read`. Every POST takes an `Idempotency-Key` header (idempotency.py).
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Form, Header, Query, Request, Response, UploadFile, status
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from database.states import CampaignStatus
from web_interface import campaign_csv, campaign_import, live_control, v1_views
from web_interface.api_errors import ERROR_RESPONSES, ApiError
from web_interface.assistant import ChatAssistant
from web_interface.campaign_csv import CsvRefused, read_contacts
from web_interface.deps import CallsUser, DbSession, Deps, ReadUser, WebDeps
from web_interface.idempotency import HEADER, fingerprint, once
from web_interface.schemas import CLEAN, Id, JsonObject, Name, PageNumber, WorkChanged
from web_interface.v1_schemas import (
    CampaignCreatedV1,
    CampaignV1,
    CsvImported,
    Paged,
)

router = APIRouter(prefix="/api/v1", tags=["campaigns"], responses=ERROR_RESPONSES)
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=HEADER,
        description="Send the same request again with the same key: the first answer comes "
        "back and nothing is created twice (kept 24 hours).",
    ),
]
Since = Annotated[
    AwareDatetime | None, Query(description="with a time zone, e.g. 2026-12-01T00:00:00Z")
]
FormText = Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=2000), CLEAN]


class CsvCampaign(BaseModel):
    """The campaign's own fields, sent as form fields beside the file."""

    model_config = ConfigDict(extra="forbid")

    # Examples that make a valid campaign, so the docs page's "Try it out" works as filled.
    file: UploadFile  # the contacts (columns: web_interface/campaign_csv.py)
    name: Annotated[Name, Field(examples=["Dentists"])]
    goal: FormText = Field(None, examples=["a cleaning for Ann next week"])
    language: FormText = Field(None, examples=["English"])
    objective: FormText = Field(None, examples=["book a cleaning"])  # rows with no objective
    # hang_up_and_retry, leave_message or notify_person
    voicemail_policy: FormText = Field(None, examples=["hang_up_and_retry"])
    voicemail_message_counts: FormText = Field(None, examples=["false"])
    max_hold_minutes: FormText = Field(None, examples=["30"])
    stop_after_successes: FormText = Field(None, examples=["1"])
    window_start: FormText = Field(None, examples=["09:00"])  # callee-local
    window_end: FormText = Field(None, examples=["17:00"])
    window_days: FormText = Field(None, examples=["mon,tue,wed,thu,fri"])
    partial: bool = False  # store the good rows and report the bad ones

    def plan_fields(self) -> dict[str, Any]:
        """The plan's campaign fields, blanks left out (the plan's defaults apply)."""
        given = self.model_dump(exclude={"file", "objective", "partial"}, exclude_none=True)
        fields = {k: v for k, v in given.items() if v != "" and not k.startswith("window_")}
        window = {k.removeprefix("window_"): v for k, v in given.items()
                  if k.startswith("window_") and v}  # fmt: skip
        return {**fields, "window": window} if window else fields


def assistant_or_503(deps: WebDeps) -> ChatAssistant:
    if deps.assistant is None:
        raise ApiError(503, "campaigns cannot be created right now (the planner is not running)")
    return deps.assistant


@router.post("/campaigns", status_code=status.HTTP_201_CREATED, response_model=CampaignCreatedV1)
async def create_campaign(
    request: Request, plan: JsonObject, user: CallsUser, s: DbSession, deps: Deps,
    key: IdempotencyKey = None,
) -> Response:  # fmt: skip
    """A campaign from a plan, checked exactly as a plan confirmed in the chat."""
    assistant = assistant_or_503(deps)

    async def act() -> JSONResponse:
        created = await campaign_import.from_plan(assistant, user.id, plan)
        return JSONResponse(created, status_code=status.HTTP_201_CREATED)

    asked = fingerprint(request.method, request.url.path, plan)
    return await once(s, deps, user.id, key, asked, act)


@router.post(
    "/campaigns/csv",
    status_code=status.HTTP_201_CREATED,
    response_model=CsvImported,
    description="A campaign from a CSV of contacts: all rows or none, unless partial=true; "
    "every bad row is reported by its row number and column. " + campaign_csv.HELP,
)
async def import_csv(
    request: Request, form: Annotated[CsvCampaign, Form()], user: CallsUser,
    s: DbSession, deps: Deps, key: IdempotencyKey = None,
) -> Response:  # fmt: skip
    assistant = assistant_or_503(deps)
    data = await form.file.read()

    async def act() -> JSONResponse:
        try:
            rows, unreadable = read_contacts(data, form.objective or "")
        except CsvRefused as exc:
            raise ApiError(422, str(exc), code="invalid_csv") from None
        imported = await campaign_import.from_csv(
            assistant, user.id, form.plan_fields(), rows, unreadable, form.partial
        )
        return JSONResponse(imported, status_code=status.HTTP_201_CREATED)

    asked = {"form": form.model_dump(exclude={"file"}), "file": hashlib.sha256(data).hexdigest()}
    return await once(
        s, deps, user.id, key, fingerprint(request.method, request.url.path, asked), act
    )


@router.get("/campaigns")
async def list_campaigns(
    request: Request, response: Response, user: ReadUser, s: DbSession,
    status: CampaignStatus | None = None, since: Since = None, page: PageNumber = 1,
) -> Paged[CampaignV1]:  # fmt: skip
    """Newest first; `since`: created at or after it."""
    found = await v1_views.campaign_page(s, user.id, page, status, since)
    return v1_views.paged(request, response, found)


@router.get("/campaigns/{campaign_id}")
async def get_campaign(campaign_id: Id, user: ReadUser, s: DbSession) -> CampaignV1:
    return await v1_views.campaign(s, user.id, campaign_id)


CONTROLS = {
    "pause": "No new calls until resumed; calls in progress finish.",
    "resume": "Its waiting tasks are called again (those already due at once).",
    "cancel": "Waiting tasks are cancelled; calls in progress finish.",
}


def _add_control(action: str, description: str) -> None:
    """POST /campaigns/{id}/<action>, through the task engine's WorkControl."""

    @router.post(
        f"/campaigns/{{campaign_id}}/{action}",
        response_model=WorkChanged,
        name=f"{action}_campaign",
        summary=f"{action.capitalize()} a campaign",
        description=description,
    )
    async def control(
        request: Request, campaign_id: Id, user: CallsUser, s: DbSession, deps: Deps,
        key: IdempotencyKey = None,
    ) -> Response:  # fmt: skip
        async def act() -> JSONResponse:
            changed = await live_control.campaign_action(s, deps, user, campaign_id, action)
            return JSONResponse(changed.model_dump())

        asked = fingerprint(request.method, request.url.path, None)
        return await once(s, deps, user.id, key, asked, act)


for _action, _description in CONTROLS.items():
    _add_control(_action, _description)
