"""`Idempotency-Key` on the API's POSTs: the same key (same person) gets the first answer.

A script that timed out does not know whether its campaign was made; sending the request
again with the same key is then safe: the first answer (status and body) comes back with
`Idempotent-Replayed: true`, and nothing is created twice. The key is reserved in its own
committed unit of work before the request acts, so a copy sent while the first is still
running is refused (409, try again) instead of acting too. A key reused with a different
request (another path or another body) is refused (422): answering it with the first
request's result would hide the mistake. Refusals (4xx) are kept like successes; a
failure (5xx, an exception) releases the key so the request can be tried again, and a
reservation a dead process never answered is dropped after 10 minutes. Keys are kept
KEEP (database/repositories/idempotency.py deletes older ones).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from fastapi import HTTPException
from fastapi.responses import JSONResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from database.models import IdempotencyKey
from database.repositories import idempotency
from database.types import utcnow
from web_interface.api_errors import ApiError
from web_interface.deps import WebDeps

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
KEEP = timedelta(hours=24)
KEY = re.compile(r"[\x21-\x7e]{1,255}")  # printable ASCII, no spaces: UUIDs and the like
Act = Callable[[], Awaitable[JSONResponse]]


def fingerprint(method: str, path: str, payload: Any) -> str:
    """What the request asked for: method, path and its parsed body (never the raw bytes:
    a multipart body differs on every send only in its boundary)."""
    text = json.dumps([method, path, payload], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


async def once(
    s: AsyncSession, deps: WebDeps, user_id: int, key: str | None, print_: str, act: Act
) -> Response:
    """`act`'s answer; with a key, the first answer to that key from now on.

    This request's own unit of work ends first: `act` and the key's rows write in units
    of their own, and SQLite has one writer."""
    await s.commit()
    if key is None:
        return await act()
    if not KEY.fullmatch(key):
        raise ApiError(400, f"{HEADER} must be 1 to 255 printable ASCII characters")
    held = await _reserve(deps, user_id, key, print_)
    if held is not None:
        return _repeat(held, print_)
    try:
        response = await _answer(act)
    except BaseException:
        await _settle(deps, user_id, key, None)
        raise
    await _settle(deps, user_id, key, response)
    return response


async def _reserve(deps: WebDeps, user_id: int, key: str, print_: str) -> IdempotencyKey | None:
    assert deps.sessions is not None
    async with deps.sessions() as s, s.begin():
        return await idempotency.reserve(
            s, user_id=user_id, key=key, fingerprint=print_, now=utcnow(), keep=KEEP
        )


def _repeat(held: IdempotencyKey, print_: str) -> Response:
    if held.fingerprint != print_:
        raise ApiError(
            422,
            f"this {HEADER} was used for a different request in the last 24 hours; "
            "send a new key for a new request",
            code="idempotency_key_reused",
        )
    if held.status_code is None:
        raise ApiError(
            409,
            f"a request with this {HEADER} is still being answered; try again in a moment",
            code="idempotency_key_in_use",
            headers={"Retry-After": "1"},
        )
    return JSONResponse(held.body, status_code=held.status_code, headers={REPLAYED: "true"})


async def _answer(act: Act) -> JSONResponse:
    """The route's answer, refusals included (so a repeat is refused the same way)."""
    try:
        return await act()
    except ApiError as exc:
        return exc.response()
    except HTTPException as exc:
        return ApiError.from_http(exc).response()


async def _settle(deps: WebDeps, user_id: int, key: str, response: JSONResponse | None) -> None:
    assert deps.sessions is not None
    async with deps.sessions() as s, s.begin():
        if response is None or response.status_code >= 500:
            await idempotency.release(s, user_id=user_id, key=key)
            return
        body = json.loads(bytes(response.body))
        await idempotency.keep_answer(
            s, user_id=user_id, key=key, status_code=response.status_code, body=body
        )
