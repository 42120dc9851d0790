"""Secrets for sessions, API tokens and CSRF: pure functions, no I/O.

- Session and API token secrets are 256 random bits; only their SHA-256 is stored, so a
  plain (fast) hash is enough: nobody can guess a preimage of a random 256-bit value.
- The session cookie carries the secret plus an HMAC of it under the app key, so a forged
  or foreign-key cookie is refused before touching the database.
- CSRF tokens are an HMAC of a seed: the session secret when logged in (bound to the
  session), else a random pre-login cookie (signed double submit, for the login forms).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SESSION_COOKIE = "od_session"
CSRF_COOKIE = "od_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
API_TOKEN_PREFIX = "odt_"


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def new_api_token() -> str:
    """The prefix makes a leaked token recognisable to secret scanners and to people."""
    return API_TOKEN_PREFIX + new_secret()


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _mac(key: bytes, purpose: str, value: str) -> str:
    return hmac.new(key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def sign_session(key: bytes, secret: str) -> str:
    return f"{secret}.{_mac(key, 'session', secret)}"


def unsign_session(key: bytes, cookie: str | None) -> str | None:
    """The secret inside a cookie we signed, else None."""
    if not cookie or "." not in cookie:
        return None
    secret, _, mac = cookie.rpartition(".")
    if not secret or not hmac.compare_digest(mac, _mac(key, "session", secret)):
        return None
    return secret


def sign_value(key: bytes, purpose: str, value: str) -> str:
    """`value` with an HMAC for `purpose`, for cookies only this server may write."""
    return f"{value}.{_mac(key, purpose, value)}"


def unsign_value(key: bytes, purpose: str, signed: str | None) -> str | None:
    if not signed or "." not in signed:
        return None
    value, _, mac = signed.rpartition(".")
    return value if hmac.compare_digest(mac, _mac(key, purpose, value)) else None


def csrf_token(key: bytes, seed: str) -> str:
    return _mac(key, "csrf", seed)


def csrf_ok(key: bytes, seed: str | None, presented: str | None) -> bool:
    if not seed or not presented:
        return False
    return hmac.compare_digest(presented, csrf_token(key, seed))
