"""Rendering pages: Jinja2 with autoescaping, the CSRF token in every page, safe cookies,
and the messages a redirect carries to the page it lands on ("Your profile is saved.").

Why messages ride in a signed cookie: every successful form answers 303 to a page (so a
reload never sends it again), and the page it lands on must still say what happened.
The cookie is HMAC-signed, so no other site can plant words in the page, HttpOnly and
short-lived, and the page that shows it deletes it.
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Any

from fastapi import Request, Response, status
from fastapi.responses import RedirectResponse
from fastapi.templating import Jinja2Templates

from database.models import User
from web_interface.deps import csrf_seed
from web_interface.security import CSRF_COOKIE, csrf_token, new_secret, sign_value, unsign_value

TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")
FLASH_COOKIE = "od_flash"
FLASH_SECONDS = 120


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
    page_url: str | None = None,
) -> Response:
    """`page_url`: the address of the page a failed form post re-renders (its own path
    by default), which the browser takes so that a reload does not post again."""
    deps = request.app.state.deps
    seed = csrf_seed(request, deps)
    fresh = seed is None
    if seed is None:
        seed = new_secret()
    flashes = _flashes(request, deps.secret_key)
    if request.method == "POST":
        page_url = page_url or request.url.path
    page = {
        "flashes": flashes,
        "replace_url": page_url,
        "user": user,
        "csrf_token": csrf_token(deps.secret_key, seed),
        "calls_off": deps.outlook.calls_off() if user is not None and deps.outlook else (),
        "demo": deps.demo,
        "demo_line": deps.demo_line or "a simulated phone line",
        **(context or {}),
    }
    response = TEMPLATES.TemplateResponse(request, name, page, status_code=status_code)
    if fresh:
        set_cookie(response, request, CSRF_COOKIE, seed, max_age=7 * 24 * 3600)
    if FLASH_COOKIE in request.cookies:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


Flash = str | tuple[str, str]  # a message, or a message and a value shown as code


def see_other(request: Request, path: str, *messages: Flash) -> Response:
    """303 to `path` (post/redirect/get), carrying `messages` for the page to show once."""
    response = RedirectResponse(path, status_code=status.HTTP_303_SEE_OTHER)
    if messages:
        data = base64.urlsafe_b64encode(json.dumps(list(messages)).encode()).decode()
        signed = sign_value(request.app.state.deps.secret_key, "flash", data)
        set_cookie(response, request, FLASH_COOKIE, signed, max_age=FLASH_SECONDS)
    return response


def _flashes(request: Request, key: bytes) -> list[Flash]:
    data = unsign_value(key, "flash", request.cookies.get(FLASH_COOKIE))
    if data is None:
        return []
    try:
        messages = json.loads(base64.urlsafe_b64decode(data))
    except (binascii.Error, ValueError):
        return []
    if not isinstance(messages, list):
        return []
    return [(str(m[0]), str(m[1])) if isinstance(m, list) else str(m) for m in messages]
