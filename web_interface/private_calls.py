"""Calls whose words the person never sees: the call that reads out their phone code.

Why: that call proves the number is theirs only if the code is heard on that phone. Its
transcript, the agent's summary and its facts would show the code on the call page, in
the API and live on every open page, so for such a call (phone_codes.VERIFICATION_KEY on
its task) they are replaced here, on every way out of the web app. The rows themselves
are as any call's; only the operator sees them.
"""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.events import LiveEvent, TurnAdded
from database.repositories import phone_codes
from web_interface.schemas import CallDetail

HIDDEN = "(not shown: this call read out your verification code)"
REMEMBERED = 1000  # calls a socket remembers the answer for
LOOKUP_TIMEOUT = 2.0  # seconds the socket's events may wait for the answer
UNCHECKED = "(not shown live: open the call's page to read it)"


async def is_private(s: AsyncSession, user_id: int, call_id: str) -> bool:
    found = await phone_codes.verification_calls(s, user_id=user_id, call_ids={call_id})
    return call_id in found


def hidden(detail: CallDetail) -> CallDetail:
    turns = [t.model_copy(update={"text": HIDDEN}) for t in detail.turns]
    return detail.model_copy(
        update={
            "turns": turns,
            "summary": HIDDEN if detail.summary else None,
            "facts": {},
            "recording_url": None,
        }
    )


class LiveMask:
    """For one person's socket: turns of their private calls go out as HIDDEN. Whether a
    call is private is asked once per call (its task never changes)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], user_id: int) -> None:
        self.sessions, self.user_id = sessions, user_id
        self._private: dict[str, bool] = {}

    async def shown(self, event: LiveEvent) -> LiveEvent:
        if not isinstance(event, TurnAdded):
            return event
        if event.call_id not in self._private:
            if len(self._private) >= REMEMBERED:  # a page open for days: start afresh
                self._private.clear()
            try:
                self._private[event.call_id] = await asyncio.wait_for(
                    self._look_up(event.call_id), LOOKUP_TIMEOUT
                )
            except TimeoutError:  # a busy database must not stall the page: hide, ask later
                return event.model_copy(update={"text": UNCHECKED})
        return event.model_copy(update={"text": HIDDEN}) if self._private[event.call_id] else event

    async def _look_up(self, call_id: str) -> bool:
        async with self.sessions() as s:
            return await is_private(s, self.user_id, call_id)
