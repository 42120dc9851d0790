"""Who opened a WebSocket: the session cookie of a page on this site, or a ticket.

Why its own module: every live socket (events, listening to a call) authenticates the same
way, before it is accepted (web_interface/routes/events.py says why each rule exists).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import WebSocket

from database.models import TokenKind
from web_interface import accounts
from web_interface.deps import WebDeps, session_secret

POLICY_VIOLATION = 1008
AUTH_TIMEOUT = 10.0


async def authenticate_socket(ws: WebSocket, deps: WebDeps) -> int | None:
    """A short unit of work of its own: no database session is held while the socket lives."""
    assert deps.sessions is not None
    ticket = ws.query_params.get("ticket")
    if ticket:
        async with deps.sessions() as s, s.begin():
            return await accounts.redeem_ws_ticket(s, secret=ticket)
    secret = session_secret(ws, deps) if same_origin(ws) else None
    if not secret:
        return None
    async with deps.sessions() as s, s.begin():
        user = await accounts.user_for(s, secret=secret, kind=TokenKind.SESSION)
    return user.id if user is not None else None


def same_origin(ws: WebSocket) -> bool:
    origin = ws.headers.get("origin")
    if origin is None:  # not a browser: no cookie was sent on anyone's behalf
        return True
    return urlsplit(origin).netloc.lower() == ws.headers.get("host", "").lower()
