"""The FastAPI application factory: no import-time globals, everything passed in.

Why a factory: tests build an app per test with their own database and bus, and main.py
builds exactly one with the process's services.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI, Response
from fastapi.responses import HTMLResponse, JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from common.health import HealthRegistry
from common.metrics import PlatformMetrics


@dataclass(slots=True)
class WebDeps:
    """What the web app needs from the rest of the process."""

    health: HealthRegistry
    metrics: PlatformMetrics


def create_app(deps: WebDeps) -> FastAPI:
    app = FastAPI(title="OpenDeep", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.deps = deps
    _add_ops_routes(app, deps)
    return app


def _add_ops_routes(app: FastAPI, deps: WebDeps) -> None:
    """Liveness, readiness and metrics: operational, reveal no user data, no login."""

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        components = await deps.health.collect()
        ready = all(c.ok or not c.required for c in components.values())
        body = {
            "status": "ready" if ready else "not_ready",
            "components": {
                name: {"ok": c.ok, "detail": c.detail, "required": c.required}
                for name, c in components.items()
            },
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(deps.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", response_class=HTMLResponse)
    async def index() -> str:
        return "<!doctype html><title>OpenDeep</title><h1>OpenDeep is running</h1>"
