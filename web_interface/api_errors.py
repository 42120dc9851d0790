"""The versioned API's errors: one JSON shape for every refusal under /api/v1.

    {"error": {"code": "not_found", "message": "campaign not found", "details": []}}

`code` is a fixed word per kind of refusal, for scripts to branch on; `message` is for the
person reading the script's log; `details` lists the single problems (a field, a CSV row)
and may be empty. The older /api routes keep FastAPI's `{"detail": ...}`: scripts written
for them keep working.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

V1_PREFIX = "/api/v1/"
CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    410: "gone",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
    502: "bad_gateway",
    503: "unavailable",
}


class ErrorInfo(BaseModel):
    code: str
    message: str
    details: list[dict[str, Any]] = []


class ErrorBody(BaseModel):
    """Every /api/v1 refusal (documented as each route's error response)."""

    error: ErrorInfo


class ApiError(Exception):
    """A refusal a route raises; the handler (errors.py) answers it in the shape above."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        details: Sequence[dict[str, Any]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or CODES.get(status, "error")
        self.message = message
        self.details = list(details)
        self.headers = headers

    @classmethod
    def from_http(cls, exc: HTTPException) -> ApiError:
        """A refusal raised the FastAPI way (by deps.py, live_control.py), in this shape."""
        code = CODES.get(exc.status_code, "error")
        return cls(exc.status_code, str(exc.detail), code=code, headers=exc.headers)

    def response(self) -> JSONResponse:
        return JSONResponse(
            error_body(self.code, self.message, self.details),
            status_code=self.status,
            headers=self.headers,
        )


def is_v1(path: str) -> bool:
    return path.startswith(V1_PREFIX)


def error_body(code: str, message: str, details: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": list(details)}}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": code.replace("_", " ")}
    for status, code in CODES.items()
    if status in (401, 403, 404, 409, 413, 422)
}
