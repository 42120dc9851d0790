"""Credentials of the web app: browser sessions, API tokens and WebSocket tickets, stored
only as hashes.

One table for all because they are the same thing (a random secret that stands for a
user until it expires or is revoked); `kind` tells them apart. The secret itself is never
stored, so a leaked database does not log anyone in.

API tokens carry scopes (what a script may do) and always expire; a WebSocket ticket lives
seconds and is deleted when used (web_interface/routes/events.py), so no long-lived
credential ever travels in a URL.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from database.models.base import Base
from database.types import UtcDateTime, state_enum, utcnow


class TokenKind(StrEnum):
    SESSION = "session"
    API = "api"
    WS_TICKET = "ws_ticket"


class TokenScope(StrEnum):
    """What an API token may do. Sessions may do everything; nothing a token holds lets it
    make tokens or change where calls are transferred (those need a browser session)."""

    READ = "read"  # see campaigns, tasks, calls, questions, profile, the live events
    CALLS = "calls"  # plan and start calls, answer the agent's questions, act on live work
    ACCOUNT = "account"  # profile (not the phone number) and the do-not-call list


class AccessToken(Base):
    __tablename__ = "access_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[TokenKind] = mapped_column(state_enum(TokenKind, "token_kind"))
    name: Mapped[str] = mapped_column(String(100), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # None: until revoked
    scopes: Mapped[str] = mapped_column(String(100), default="", server_default="")

    @property
    def scope_set(self) -> frozenset[TokenScope]:
        """The API token's scopes (stored space-separated); unknown words are ignored."""
        known = {s.value for s in TokenScope}
        return frozenset(TokenScope(w) for w in self.scopes.split() if w in known)
