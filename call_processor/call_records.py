"""The call's writer of its own rows: calls, call_events (call_processor owns them).

Why a small object: a live call must not die because one write failed (a locked SQLite,
a PostgreSQL failover). Each write is its own short unit of work; a failure is logged
with the call's context and counted, and the call goes on.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.announce import announce
from common.command_bus import CommandBus
from common.events import CallEventAdded, CallStatusChanged
from database.models import Call, CallEvent
from database.repositories import calls
from database.states import CallDirection

log = logging.getLogger(__name__)
MAX_PAUSE = 10.0  # seconds between tries of the closing write


def added(row: CallEvent) -> CallEventAdded:
    """The live event for a stored call event: the call page adds exactly that row."""
    return CallEventAdded(call_id=row.call_id, kind=row.kind, event_id=row.id, at=row.at)


class CallRecorder:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        user_id: int,
        call_id: str,
        bus: CommandBus | None = None,
    ) -> None:
        self.sessions = sessions
        self.user_id = user_id
        self.call_id = call_id
        self.bus = bus  # when set, the person's open pages see status and events live
        self.failed_writes = 0

    async def create(
        self,
        *,
        phone_number: str,
        task_id: int | None,
        attempt_number: int,
        node_id: str,
        direction: CallDirection = CallDirection.OUTBOUND,
    ) -> None:
        """The dialing row; unlike later writes, a failure here refuses the call."""
        async with self.sessions() as s, s.begin():
            await calls.create_dialing(
                s,
                user_id=self.user_id,
                call_id=self.call_id,
                phone_number=phone_number,
                task_id=task_id,
                attempt_number=attempt_number,
                node_id=node_id,
                direction=direction,
            )

    async def update(self, **fields: Any) -> None:
        """One write while the call goes on; a failure is logged and the call goes on."""
        await self._write(fields, within=0.0)

    async def close(self, *, within: float, **fields: Any) -> Call | None:
        """The closing write, retried with backoff for `within` seconds (a row left
        "answered" would look live); the row as written, or None when it never went in."""
        return await self._write(fields, within)

    async def _write(self, fields: dict[str, Any], within: float) -> Call | None:
        fields = {k: v for k, v in fields.items() if v is not None}
        if not fields:
            return None
        row = None
        deadline = time.monotonic() + within
        for attempt in itertools.count(1):
            try:
                async with self.sessions() as s, s.begin():
                    row = await calls.update(
                        s, user_id=self.user_id, call_id=self.call_id, **fields
                    )
                break
            except Exception:
                self.failed_writes += 1
                log.warning(
                    "could not record a call update", exc_info=attempt == 1,
                    extra={"attempt": attempt},
                )  # fmt: skip
                pause = min(MAX_PAUSE, 0.2 * 2 ** (attempt - 1))
                if time.monotonic() + pause > deadline:
                    break
                await asyncio.sleep(pause)
        if "status" in fields:
            status = str(fields["status"])
            await announce(
                self.bus, self.user_id, CallStatusChanged(call_id=self.call_id, status=status)
            )
        return row

    async def event(self, kind: str, data: dict[str, Any]) -> None:
        """Stored, then shown live; an event that could not be stored is not shown."""
        try:
            async with self.sessions() as s, s.begin():
                row = await calls.append_event(
                    s, user_id=self.user_id, call_id=self.call_id, kind=kind, data=data
                )
        except Exception:
            self.failed_writes += 1
            log.exception("could not record a call event", extra={"kind": kind})
            return
        if row is not None:
            await announce(self.bus, self.user_id, added(row))
