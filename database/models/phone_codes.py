"""The code that proves a person's own phone number is theirs, while it is outstanding.

One row per person at most: asking for a new code replaces the old one. Only a keyed hash
of the code is kept (web_interface/phone_check.py makes and checks it), with the number it
was sent to, when it stops working, how many wrong tries it has had and how many codes
were sent lately (sending costs a text or a call, so it is rationed).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from database.models.base import Base
from database.types import UtcDateTime, utcnow


class PhoneCode(Base):
    __tablename__ = "phone_codes"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    phone_number: Mapped[str] = mapped_column(String(20))  # where this code was sent
    code_hash: Mapped[str] = mapped_column(String(64))  # HMAC-SHA256 hex, never the code
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    failed_tries: Mapped[int] = mapped_column(Integer, default=0)
    # Codes sent since window_started_at (a day at most), across replaced rows.
    window_started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    sent_in_window: Mapped[int] = mapped_column(Integer, default=1)
