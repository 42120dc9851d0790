"""Column types: aware UTC datetimes on every backend, and state enums stored as strings."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, DateTime, Dialect, Enum
from sqlalchemy.types import TypeDecorator

from database.profile import Profile


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Stores an instant; always returns an aware UTC datetime.

    SQLite keeps no offset, so without this it hands back naive datetimes and comparisons
    with aware ones raise. Naive input is refused: its meaning depends on the host clock.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime; pass an aware one (datetime.now(UTC))")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class ProfileJson(TypeDecorator[Profile]):
    """users.profile: JSON on disk, a Profile in Python (database/profile.py)."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: Profile | None, dialect: Dialect) -> dict[str, Any]:
        return (value or Profile()).stored()

    def process_result_value(self, value: Any, dialect: Dialect) -> Profile:
        return Profile.from_stored(value)


def state_enum(enum_class: type[StrEnum], name: str) -> Enum:
    """A VARCHAR + CHECK column holding the enum's values (not native PG enums: easy to extend)."""
    return Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=_values,
        validate_strings=True,
    )


def _values(enum_class: Any) -> list[str]:
    return [member.value for member in enum_class]
