"""A talker that is not ready yet: what an inbound call's AudioSocket session starts with.

Why: an inbound call must be registered with the AudioSocket server the moment it is
announced (its connection arrives within a millisecond: docs/protocols.md, Passing the
caller to AudioSocket), but who talks on it is known only after the caller is matched and
a model session is opened. The session starts with this stand-in; the paced writer sends
silence meanwhile (so AudioSocket's 2-second timeout never fires). `resolve(talker)` hands
the call over, without what the caller said while nobody listened: a burst of stale
"hello?" would only interrupt the agent's greeting, which answers it anyway.
`resolve(None)` (refused: no free slot, no talker) or no answer within `wait` ends it.
"""

from __future__ import annotations

import asyncio
import logging

from audio_processing.call_audio import CallAudio
from audio_processing.talker_result import TalkerResult
from call_processor.call_attempt import PreparedTalker
from common.commands import CallCommand

log = logging.getLogger(__name__)


class PendingTalker:
    """A PreparedTalker standing in for one that arrives later (or never)."""

    def __init__(self, wait: float = 10.0) -> None:
        self.wait = wait
        self._talker: asyncio.Future[PreparedTalker | None] = (
            asyncio.get_running_loop().create_future()
        )

    @property
    def talker(self) -> PreparedTalker | None:
        """The real talker, once resolved."""
        return self._talker.result() if self._talker.done() else None

    def resolve(self, talker: PreparedTalker | None) -> bool:
        """The talker for the call, or None to end it; False when it was settled before
        (then `talker` is not used, and is the caller's to close)."""
        if self._talker.done():
            return False
        self._talker.set_result(talker)
        return True

    async def run(self, audio: CallAudio) -> None:
        try:
            async with asyncio.timeout(self.wait):
                talker = await asyncio.shield(self._talker)
        except TimeoutError:
            log.warning("no talker for the call in time", extra={"seconds": self.wait})
            self.resolve(None)
            return
        if talker is not None:
            audio.discard_inbound()
            await talker.run(audio)

    def result(self) -> TalkerResult | None:
        talker = self.talker
        return None if talker is None else talker.result()

    async def on_command(self, command: CallCommand) -> None:
        talker = self.talker
        if talker is not None:
            await talker.on_command(command)

    async def aclose(self) -> None:
        """Close the real talker if there is one; none can be resolved afterwards."""
        self.resolve(None)
        talker = self.talker
        if talker is not None:
            await talker.aclose()
