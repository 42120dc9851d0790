"""The FastAPI application factory: no import-time globals, everything passed in.

Why a factory: tests build an app per test with their own database and bus, and the
platform (launcher/platform.py) builds exactly one with the process's services. This is
the one module that imports the routers; routers share helpers through deps, views and
accounts, never through each other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST

from web_interface.body_limit import BodyLimit
from web_interface.deps import WebDeps
from web_interface.errors import install_error_handlers
from web_interface.ops_access import may_see_ops
from web_interface.routes import ROUTERS, V1_ROUTERS
from web_interface.security_headers import SecurityHeaders

STATIC_DIR = Path(__file__).resolve().parent / "static"
SWAGGER_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"  # /api/v1/docs


def create_app(deps: WebDeps) -> FastAPI:
    app = FastAPI(title="OpenDeep", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.deps = deps
    app.add_middleware(SecurityHeaders)
    app.add_middleware(BodyLimit, max_bytes=deps.max_body_bytes)  # outermost: before all
    _add_ops_routes(app, deps)
    _add_favicon(app)
    if deps.sessions is not None and deps.bus is not None:
        _add_user_routes(app)
    else:
        _add_placeholder_index(app)
    return app


def _add_user_routes(app: FastAPI) -> None:
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.state.v1_routes = [route for router in V1_ROUTERS for route in router.routes]
    app.mount("/static/swagger", StaticFiles(directory=SWAGGER_DIR), name="swagger")
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


def _add_ops_routes(app: FastAPI, deps: WebDeps) -> None:
    """Liveness, readiness and metrics: no user data, no login; details for ops only
    (ops_access.py)."""

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        components = await deps.health.collect()
        ready = all(c.ok or not c.required for c in components.values())
        body: dict[str, Any] = {"status": "ready" if ready else "not_ready"}
        if may_see_ops(request, deps.ops_token):
            body["components"] = {
                name: {"ok": c.ok, "detail": c.detail, "required": c.required}
                for name, c in components.items()
            }
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics")
    async def metrics(request: Request) -> Response:
        if not may_see_ops(request, deps.ops_token):
            return JSONResponse(
                {"detail": "metrics are for this host, or send Authorization: Bearer <ops token>"},
                status_code=403,
            )
        return Response(deps.metrics.render(), media_type=CONTENT_TYPE_LATEST)


def _add_favicon(app: FastAPI) -> None:
    """Browsers ask every site for /favicon.ico; a 404 on every page is noise in logs."""

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> FileResponse:
        headers = {"Cache-Control": "public, max-age=86400"}
        return FileResponse(STATIC_DIR / "favicon.ico", media_type="image/x-icon", headers=headers)


def _add_placeholder_index(app: FastAPI) -> None:
    @app.get("/", response_class=HTMLResponse)
    async def index() -> str:
        return "<!doctype html><title>OpenDeep</title><h1>OpenDeep is running</h1>"
