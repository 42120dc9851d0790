"""Error responses: pages send people to the login form, the API answers in JSON (under
/api/v1 in the one shape of api_errors.py)."""

from __future__ import annotations

import logging
import re
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from common.command_bus import CommandBusError
from web_interface.api_errors import ApiError, error_body, is_v1

log = logging.getLogger(__name__)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


class LoginRequired(Exception):
    """A page was asked for without a valid session: go to the login form, then back."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(CommandBusError, _bus_unavailable)
    app.add_exception_handler(RequestValidationError, _invalid_input)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(ApiError, _api_error)


async def _api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    """FastAPI's answer, except under /api/v1, where refusals share one shape."""
    assert isinstance(exc, HTTPException)
    if not is_v1(request.url.path):
        return await http_exception_handler(request, exc)
    return ApiError.from_http(exc).response()


async def _invalid_input(request: Request, exc: Exception) -> Response:
    """422 with where and why per problem, never the input itself.

    FastAPI's own handler echoes each offending value: a 2 MB string came back whole, and
    one with an unpaired surrogate could not be encoded, so the handler itself failed with
    a 500 (issue 13). Location parts that are not plain names (dict keys a client chose)
    are not echoed either.
    """
    assert isinstance(exc, RequestValidationError)
    detail = [
        {
            "loc": [_location(part) for part in error.get("loc", ())],
            "msg": _printable(str(error.get("msg", "invalid"))),
            "type": _printable(str(error.get("type", "value_error"))),
        }
        for error in exc.errors()
    ]
    if is_v1(request.url.path):
        fields = [
            {"field": ".".join(str(p) for p in d["loc"]), "message": d["msg"]} for d in detail
        ]
        return JSONResponse(error_body("invalid", "the request is not valid", fields), 422)
    return JSONResponse({"detail": detail}, status_code=422)


def _location(part: object) -> int | str:
    if isinstance(part, int):
        return part
    text = str(part)
    return text if _NAME.fullmatch(text) else "*"


def _printable(text: str) -> str:
    """Encodable as UTF-8 whatever it holds (unpaired surrogates become "?")."""
    return text.encode("utf-8", "replace").decode("utf-8")


async def _login_required(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return RedirectResponse(f"/login?next={quote(exc.next_path, safe='/')}", status_code=303)


async def _bus_unavailable(_request: Request, exc: Exception) -> Response:
    log.warning("the command bus refused a message", extra={"error": repr(exc)})
    return JSONResponse(
        {"detail": "the call could not be reached right now; try again"}, status_code=503
    )
