"""What a POST with an `Idempotency-Key` answered, so the same request sent again (a
retry after a timeout, a script run twice) gets the first answer and creates nothing.

A row is written before the request does anything (`status_code` None: in progress), so
two copies sent at once cannot both run: the second finds the row. `fingerprint` is a hash
of what the request asked for, so a key reused for a different request is refused instead
of answered with someone else's result. Rows live KEEP_HOURS (web_interface/idempotency.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from database.models.base import Base
from database.types import UtcDateTime, utcnow


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("user_id", "key"),
        Index("ix_idempotency_keys_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))  # sha256 hex of method, path, body
    status_code: Mapped[int | None] = mapped_column(Integer)  # None: still being answered
    body: Mapped[Any] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
