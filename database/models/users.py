"""A person using OpenDeep: login, own number, time zone and what the agent may share."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from database.models.base import Base
from database.profile import Profile
from database.types import ProfileJson, UtcDateTime, utcnow


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    phone_number: Mapped[str | None] = mapped_column(String(20))
    # When the person proved this number is theirs (a code sent to it); None until then,
    # and again whenever the number changes (repositories/users.py). Transfers to it and
    # texts to it wait for this.
    phone_verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    # Read and written whole: assign a new Profile (it is frozen) to change it.
    profile: Mapped[Profile] = mapped_column(ProfileJson, default=Profile)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
