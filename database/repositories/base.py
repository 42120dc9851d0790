"""Small helpers shared by the repositories."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, cast

from sqlalchemy import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.expression import Executable

E164 = re.compile(r"^\+[1-9]\d{1,14}$")


def check_e164(number: str) -> str:
    """Numbers are stored in E.164 only, so DND checks and lookups compare exact strings."""
    if not E164.fullmatch(number):
        raise ValueError("phone number must be E.164 (+ and 2-15 digits)")
    return number


def apply_changes(row: object, changes: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """Set only whitelisted columns: keeps ids, owners and versions out of generic updates."""
    unknown = set(changes) - set(allowed)
    if unknown:
        raise ValueError(f"cannot update {sorted(unknown)}")
    for name, value in changes.items():
        setattr(row, name, value)


async def affected(s: AsyncSession, statement: Executable) -> int:
    """How many rows an UPDATE or DELETE touched.

    Why a helper: SQLAlchemy types `execute()` as a plain Result, while for these
    statements it returns the CursorResult that carries `rowcount`.
    """
    result = await s.execute(statement)
    return int(cast("CursorResult[Any]", result).rowcount or 0)
