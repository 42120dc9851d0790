"""Error responses: pages send people to the login form, the API answers in JSON, and a
browser asking for a page that is not there (or not theirs, or broken) gets a page.

Who gets HTML: a request that accepts text/html and is not for /api or /ws. Scripts and
the API always get `{"detail": ...}`, whatever they accept; under /api/v1 the one shape
of api_errors.py.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from common.command_bus import CommandBusError
from web_interface.api_errors import ApiError, error_body, is_v1
from web_interface.login_required import LoginRequired
from web_interface.templating import render

log = logging.getLogger(__name__)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


TITLES = {
    400: "Bad request",
    401: "Please log in",
    403: "Not allowed",
    404: "Page not found",
    405: "Not allowed here",
    409: "Already done",
    413: "Too large",
    422: "Something in the request was not right",
    429: "Too many requests",
    500: "Something went wrong",
    503: "Not available right now",
}
HELP = {
    403: "The page or form was refused. If you were filling in a form, reload the page "
    "and send it again (your session may have changed).",
    404: "There is nothing at this address, or it is not yours to see.",
    500: "OpenDeep hit an error it did not expect. It is in the server's log; try again.",
}
INTERNAL = "internal error"


def wants_html(request: Request) -> bool:
    path = request.url.path
    if path.startswith(("/api/", "/ws/")) or path in {"/api", "/ws"}:
        return False
    return "text/html" in request.headers.get("accept", "")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(CommandBusError, _bus_unavailable)
    app.add_exception_handler(RequestValidationError, _invalid_input)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(Exception, _server_error)


async def _api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if is_v1(request.url.path):
        return ApiError.from_http(exc).response()
    if wants_html(request):
        return _page(request, exc.status_code, str(exc.detail), exc.headers)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _server_error(request: Request, exc: Exception) -> Response:
    """Logged here with its traceback; the person sees a page, the script a JSON line."""
    log.error("request failed", exc_info=exc, extra={"path": request.url.path})
    if is_v1(request.url.path):
        return JSONResponse(error_body("internal", INTERNAL), status_code=500)
    if wants_html(request):
        return _page(request, 500, "")
    return JSONResponse({"detail": INTERNAL}, status_code=500)


def _page(
    request: Request, code: int, detail: str, headers: Mapping[str, str] | None = None
) -> Response:
    context = {
        "code": code,
        "title": TITLES.get(code, "Something went wrong"),
        "detail": detail[:1:].upper() + detail[1:] if detail else "",
        "help": HELP.get(code, ""),
    }
    # after a failed post, a reload opens the start page rather than posting again
    after_post = "/" if request.method == "POST" else None
    response = render(request, "error.html", context, status_code=code, page_url=after_post)
    response.headers.update(headers or {})
    return response


async def _invalid_input(request: Request, exc: Exception) -> Response:
    """422 with where and why per problem, never the input itself.

    FastAPI's own handler echoes each offending value: a 2 MB string came back whole, and
    one with an unpaired surrogate could not be encoded, so the handler itself failed with
    a 500 (issue 13). Location parts that are not plain names (dict keys a client chose)
    are not echoed either.
    """
    assert isinstance(exc, RequestValidationError)
    if wants_html(request):
        where = sorted({str(e["loc"][-1]) for e in exc.errors() if e.get("loc")})
        words = "Check " + ", ".join(w.replace("_", " ") for w in where) if where else ""
        return _page(request, 422, words)
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
