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


class PrivateCalls:
    """Whether a call is private, asked of the database once per call per process, shared
    by every open page of its person.

    Why shared: a person with many pages open (or an API client holding many sockets) got
    one lookup per page for every new call; with 200 pages of one person those 200 queries
    queued past LOOKUP_TIMEOUT and every page showed UNCHECKED. The first page to ask runs
    the query; the others wait for its answer. A lookup that fails or is given up is
    forgotten, so the next turn asks again.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self._answers: dict[tuple[int, str], asyncio.Future[bool]] = {}

    async def is_private(self, user_id: int, call_id: str) -> bool:
        key = (user_id, call_id)
        answer = self._answers.get(key)
        if answer is None:
            return await self._ask(key)
        try:
            return await asyncio.shield(answer)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # this page is closing
            raise TimeoutError("the lookup this page waited for was given up") from None

    async def _ask(self, key: tuple[int, str]) -> bool:
        if len(self._answers) >= REMEMBERED:  # a process up for days: keep only those in flight
            self._answers = {k: f for k, f in self._answers.items() if not f.done()}
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._answers[key] = answer
        try:
            async with self.sessions() as s:
                answer.set_result(await is_private(s, *key))
        finally:
            if not answer.done():  # failed or given up: nobody keeps a broken answer
                del self._answers[key]
                answer.cancel()
        return answer.result()


class LiveMask:
    """For one person's socket: turns of their private calls go out as HIDDEN. Whether a
    call is private is asked once per call (its task never changes), through the process's
    PrivateCalls."""

    def __init__(self, calls: PrivateCalls, user_id: int) -> None:
        self.calls, self.user_id = calls, user_id
        self._private: dict[str, bool] = {}

    async def shown(self, event: LiveEvent) -> LiveEvent:
        if not isinstance(event, TurnAdded):
            return event
        if event.call_id not in self._private:
            if len(self._private) >= REMEMBERED:  # a page open for days: start afresh
                self._private.clear()
            try:
                self._private[event.call_id] = await asyncio.wait_for(
                    self.calls.is_private(self.user_id, event.call_id), LOOKUP_TIMEOUT
                )
            except TimeoutError:  # a busy database must not stall the page: hide, ask later
                return event.model_copy(update={"text": UNCHECKED})
        return event.model_copy(update={"text": HIDDEN}) if self._private[event.call_id] else event
