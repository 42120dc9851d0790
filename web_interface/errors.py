"""Error responses: pages send people to the login form, the API answers in JSON."""

from __future__ import annotations

import logging
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from common.command_bus import CommandBusError

log = logging.getLogger(__name__)


class LoginRequired(Exception):
    """A page was asked for without a valid session: go to the login form, then back."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(CommandBusError, _bus_unavailable)


async def _login_required(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return RedirectResponse(f"/login?next={quote(exc.next_path, safe='/')}", status_code=303)


async def _bus_unavailable(_request: Request, exc: Exception) -> Response:
    log.warning("the command bus refused a message", extra={"error": repr(exc)})
    return JSONResponse(
        {"detail": "the call could not be reached right now; try again"}, status_code=503
    )
