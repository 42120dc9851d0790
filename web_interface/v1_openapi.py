"""The OpenAPI document of /api/v1 alone, built from its routes.

Why by hand rather than FastAPI's own /openapi.json: the app serves no schema of its
other routes (pages, forms) and no documentation to people who are not logged in, and
a campaign's body is the planner's own plan (ChatAssistant.plan_schema), so the document
shows exactly what the plan check accepts instead of a copy that could drift.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi.openapi.utils import get_openapi
from starlette.routing import BaseRoute

from web_interface.api_errors import V1_PREFIX
from web_interface.assistant import ChatAssistant

TITLE = "OpenDeep API"
VERSION = "1"
DESCRIPTION = (
    "Campaigns, tasks and calls of the person the API token (or session) belongs to. "
    "Send `Authorization: Bearer <API token>` (made on the Profile page). Reading needs "
    "the `read` scope; creating, pausing, resuming and cancelling campaigns, `calls`. "
    "Every POST takes an `Idempotency-Key`. Errors: "
    '`{"error": {"code", "message", "details"}}`.'
)
CREATE_PATH = V1_PREFIX + "campaigns"
FORM, MULTIPART = "application/x-www-form-urlencoded", "multipart/form-data"


def document(routes: Sequence[BaseRoute], assistant: ChatAssistant | None) -> dict[str, Any]:
    """`routes`: the /api/v1 routers' (app.py keeps them as app.state.v1_routes)."""
    schema = get_openapi(title=TITLE, version=VERSION, description=DESCRIPTION, routes=routes)
    components = schema.setdefault("components", {})
    components["securitySchemes"] = {"token": {"type": "http", "scheme": "bearer"}}
    schema["security"] = [{"token": []}]
    _uploads_as_multipart(schema)
    if assistant is not None:
        _plan_body(schema, assistant.plan_schema())
    return schema


def _uploads_as_multipart(schema: dict[str, Any]) -> None:
    """A form body with a file (the CSV import) is multipart/form-data, which is what the
    route reads; FastAPI documents a form model holding an UploadFile as url-encoded, and
    Swagger UI's "Try it out" would then send the file's name instead of the file."""
    for operations in schema["paths"].values():
        for operation in operations.values():
            content = operation.get("requestBody", {}).get("content", {})
            if FORM in content:
                content[MULTIPART] = content.pop(FORM)


def _plan_body(schema: dict[str, Any], plan: dict[str, Any]) -> None:
    """The create route's body is the plan: its definitions join the components."""
    definitions = plan.pop("$defs", {})
    text = _rebase(plan)
    schemas = schema["components"].setdefault("schemas", {})
    schemas.update({name: _rebase(d) for name, d in definitions.items()})
    schemas["CampaignPlan"] = text
    body = schema["paths"][CREATE_PATH]["post"]["requestBody"]
    body["content"]["application/json"]["schema"] = {"$ref": "#/components/schemas/CampaignPlan"}


def _rebase(node: Any) -> Any:
    """`#/$defs/X` references, as pydantic writes them, pointing into the components."""
    if isinstance(node, dict):
        return {
            k: (v.replace("#/$defs/", "#/components/schemas/") if k == "$ref" else _rebase(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_rebase(item) for item in node]
    return node
