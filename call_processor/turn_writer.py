"""Writes a call's turns (and its holds) as they happen, never blocking the audio path.

Why a queue and an owned writer task: the realtime bridge reports turns from its event
loop, which must not wait on a database. Turns are written in order (call_turns.seq) and
published on the person's live-event channel so an open call page shows them at once;
a hold going on or off becomes a call event and a live event the same way ("on hold
m:ss" on the call page), and its seconds go to /metrics.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from audio_processing.call_turns import HoldChange, Turn
from audio_processing.never_share import mentioned
from call_processor.call_records import added
from common.announce import announce
from common.command_bus import CommandBus
from common.events import CallHoldChanged, LiveEvent, TurnAdded
from common.owned_tasks import TaskOwner
from database.repositories import calls, turns
from database.states import Speaker

log = logging.getLogger(__name__)


class TurnWriter:
    """A TurnSink for the bridge: `on_turn` queues, the writer task stores and publishes."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: CommandBus,
        *,
        user_id: int,
        call_id: str,
        observe_latency: Callable[[float], None] | None = None,
        never_share: tuple[str, ...] = (),
        observe_hold: Callable[[float, float], None] | None = None,
    ) -> None:
        """`never_share`: values (audio_processing/never_share.py) the agent must not say;
        an agent turn that says one is recorded on the call as `never_share_spoken`."""
        self.sessions, self.bus = sessions, bus
        self.never_share = never_share
        self.observe_latency = observe_latency  # e.g. the turn-latency histogram (seconds)
        self.observe_hold = observe_hold  # (held, model audio avoided) seconds, per hold
        self.user_id, self.call_id = user_id, call_id
        self.written = 0
        self._queue: asyncio.Queue[Turn | HoldChange | None] = asyncio.Queue()
        self._owner = TaskOwner(f"{call_id}:turns")
        self._writer: asyncio.Task[None] | None = None

    def on_turn(self, turn: Turn) -> None:
        self._put(turn)

    def on_hold(self, change: HoldChange) -> None:
        if not change.on_hold and self.observe_hold is not None:
            self.observe_hold(change.held_ms / 1000, change.avoided_ms / 1000)
        self._put(change)

    def _put(self, item: Turn | HoldChange) -> None:
        if self._writer is None:
            self._writer = self._owner.spawn(self._write_all(), "writer")
        self._queue.put_nowait(item)

    def on_latency(self, latency_ms: float) -> None:
        """Observed at once (the histogram); the row's list comes from the talker's result."""
        if self.observe_latency is not None:
            self.observe_latency(latency_ms / 1000)

    async def _write_all(self) -> None:
        while (item := await self._queue.get()) is not None:
            try:
                if isinstance(item, HoldChange):
                    await self._write_hold(item)
                else:
                    await self._write(item)
            except Exception:
                log.exception("could not store a turn or a hold")

    async def _write_hold(self, change: HoldChange) -> None:
        kind = "on_hold" if change.on_hold else "off_hold"
        data = {} if change.on_hold else {"held_s": round(change.held_ms / 1000, 1)}
        async with self.sessions() as s, s.begin():
            row = await calls.append_event(
                s, user_id=self.user_id, call_id=self.call_id, kind=kind, data=data
            )
        held = CallHoldChanged(call_id=self.call_id, on_hold=change.on_hold, since=change.since)
        await announce(self.bus, self.user_id, held)
        if row is not None:
            await announce(self.bus, self.user_id, added(row))

    async def _write(self, turn: Turn) -> None:
        async with self.sessions() as s, s.begin():
            row = await turns.append(
                s,
                user_id=self.user_id,
                call_id=self.call_id,
                speaker=Speaker(turn.speaker),
                text=turn.text,
                started_at=turn.started_at,
                ended_at=turn.ended_at,
                cut_at_ms=turn.cut_at_ms,
            )
            slips = mentioned(turn.text, self.never_share) if turn.speaker == "agent" else []
            noted = []
            for item in slips:  # which item, never the value itself
                noted.append(await calls.append_event(
                    s, user_id=self.user_id, call_id=self.call_id,
                    kind="never_share_spoken", data={"item": item},
                ))  # fmt: skip
        if slips:
            log.warning("the agent said something it must never share", extra={"items": slips})
        self.written += 1
        shown: list[LiveEvent] = [added(e) for e in noted if e is not None]
        if row is not None:
            said = TurnAdded(
                call_id=self.call_id, seq=row.seq, speaker=turn.speaker, text=turn.text
            )
            shown.insert(0, said)
        for event in shown:
            await announce(self.bus, self.user_id, event)

    async def aclose(self, timeout: float = 3.0) -> None:
        """Write what is queued (within `timeout`), then stop."""
        if self._writer is not None:
            self._queue.put_nowait(None)
            try:
                await asyncio.wait_for(asyncio.shield(self._writer), timeout)
            except TimeoutError:
                log.warning(
                    "turns still unwritten at call end", extra={"left": self._queue.qsize()}
                )
        await self._owner.aclose(timeout=1.0)
