"""Rendering pages: Jinja2 with autoescaping, the CSRF token in every page, safe cookies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request, Response
from fastapi.templating import Jinja2Templates

from database.models import User
from web_interface.deps import csrf_seed
from web_interface.security import CSRF_COOKIE, csrf_token, new_secret

TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    """HttpOnly (scripts never need them), SameSite=Lax, Secure whenever served over https."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    user: User | None = None,
    status_code: int = 200,
) -> Response:
    deps = request.app.state.deps
    seed = csrf_seed(request, deps)
    fresh = seed is None
    if seed is None:
        seed = new_secret()
    page = {
        "user": user,
        "csrf_token": csrf_token(deps.secret_key, seed),
        "demo": deps.demo,
        **(context or {}),
    }
    response = TEMPLATES.TemplateResponse(request, name, page, status_code=status_code)
    if fresh:
        set_cookie(response, request, CSRF_COOKIE, seed, max_age=7 * 24 * 3600)
    return response
