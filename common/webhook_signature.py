"""Signing webhook bodies, and checking a signature: the helper receivers use.

The header (Stripe / Standard Webhooks style), `OpenDeep-Signature: t=<unix>,v1=<hex>`,
where `<hex>` is HMAC-SHA256 keyed with the endpoint's secret over `<unix>.<body>`. The
timestamp is signed so a captured request cannot be replayed later: `verify` refuses one
older (or newer) than `tolerance` seconds. Several `v1=` entries may appear; any match
passes. Pure (hmac, hashlib, time): copy this file into a receiver as it is.
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "OpenDeep-Signature"
DEFAULT_TOLERANCE = 300  # seconds between signing and checking, either way


class SignatureError(ValueError):
    """The body was not signed with this secret, or not recently enough."""


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of `<timestamp>.<body>` with `secret`."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The header value for `body`, signed now (or at `timestamp`)."""
    at = int(time.time()) if timestamp is None else timestamp
    return f"t={at},v1={signature(secret, at, body)}"


def verify(
    secret: str,
    body: bytes,
    header: str,
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> int:
    """The signed timestamp when `header` signs `body` with `secret` within `tolerance`
    seconds of `now`; SignatureError otherwise. Pass the raw body bytes, before parsing."""
    at, candidates = _parse(header)
    current = time.time() if now is None else now
    if abs(current - at) > tolerance:
        raise SignatureError("timestamp outside the tolerance")
    expected = signature(secret, at, body)
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise SignatureError("no signature matches")
    return at


def _parse(header: str) -> tuple[int, list[str]]:
    at: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise SignatureError("malformed signature header")
        if key == "t":
            if not value.isascii() or not value.isdigit():
                raise SignatureError("malformed timestamp")
            at = int(value)
        elif key == "v1":
            candidates.append(value)
    if at is None or not candidates:
        raise SignatureError("the header needs t= and at least one v1=")
    return at, candidates
