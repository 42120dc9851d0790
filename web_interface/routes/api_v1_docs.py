"""/api/v1/docs (Swagger UI) and /api/v1/openapi.json, for logged-in people only: a
session, or an API token with the `read` scope. The page's scripts come from this site
(the Content-Security-Policy allows no other), Swagger UI's from the fastapi-offline
package (app.py mounts them)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from database.models import TokenScope
from web_interface import v1_openapi
from web_interface.api_errors import ApiError
from web_interface.deps import Deps, OptionalUser, ReadUser
from web_interface.login_required import LoginRequired
from web_interface.templating import render

router = APIRouter(prefix="/api/v1", include_in_schema=False)


@router.get("/openapi.json")
async def openapi(request: Request, _user: ReadUser, deps: Deps) -> JSONResponse:
    return JSONResponse(v1_openapi.document(request.app.state.v1_routes, deps.assistant))


@router.get("/docs")
async def docs(request: Request, user: OptionalUser) -> Response:
    """A browser without a session goes to the login form and comes back here."""
    if user is None and request.state.auth == "session":
        raise LoginRequired(request.url.path)
    if user is None or TokenScope.READ not in request.state.scopes:
        raise ApiError(401, "log in, or send Authorization: Bearer <API token with read>")
    return render(request, "api_docs.html", user=user)
