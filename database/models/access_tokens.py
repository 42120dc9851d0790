"""Credentials of the web app: browser sessions and API tokens, stored only as hashes.

One table for both because they are the same thing (a random secret that stands for a
user until it expires or is revoked); `kind` tells them apart. The secret itself is never
stored, so a leaked database does not log anyone in.
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


class AccessToken(Base):
    __tablename__ = "access_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[TokenKind] = mapped_column(state_enum(TokenKind, "token_kind"))
    name: Mapped[str] = mapped_column(String(100), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # None: until revoked
