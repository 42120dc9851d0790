"""One inbound call from its announcement to the final row: a CallAttempt that dials nobody.

Why a CallAttempt: once the caller is on the line, an inbound call is followed exactly like
one we placed (its Hangup, its AudioSocket session, the commands on its channel, transfer,
the closing row), and it must end the same way whatever ends it. What differs: the
dialplan answered before we heard of it, the AudioSocket registration and the AMI
subscription were made when it was announced, and AMI names the channel by its own
Uniqueid, not by the call id (docs/protocols.md, Passing the caller to AudioSocket).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from audio_processing.call_audio import CallAudio
from audio_processing.expected_call import ExpectedCall
from audio_processing.talker_result import TalkerResult
from call_processor.ami.call_events import CallEvents
from call_processor.ami.errors import AmiError
from call_processor.ami.inbound_announcement import InboundAnnouncement
from call_processor.call_attempt import CallAttempt
from common.commands import CallCommand
from database.states import CallStatus

log = logging.getLogger(__name__)


class InboundAttempt(CallAttempt):
    """Follows an announced inbound call; `forward_to` puts it through to that number."""

    def __init__(
        self,
        *,
        announcement: InboundAnnouncement,
        events: CallEvents,
        expected: ExpectedCall,
        forward_to: str | None = None,
        **attempt: Any,
    ) -> None:
        super().__init__(call_id=announcement.call_id, **attempt)
        self.announcement = announcement
        self.forward_to = forward_to
        self._events, self._expected = events, expected

    @property
    def channel_ref(self) -> str:
        return self.announcement.channel_ref

    def _attach(self) -> tuple[CallEvents, ExpectedCall]:
        return self._events, self._expected  # made when the call was announced

    async def _connect(self) -> bool:
        """Already answered by the dialplan: record it, and put it through if asked."""
        self.answered_at = time.monotonic()
        await self.recorder.update(
            status=CallStatus.ANSWERED,
            answered_at=datetime.now(UTC),
            channel=self.announcement.channel,
        )
        await self.recorder.event(
            "answered", {"direction": "inbound", "did": self.announcement.did}
        )
        if self.forward_to is not None:
            try:
                await self._transfer(self.forward_to)
            except (AmiError, ValueError) as exc:
                log.warning("forwarding an inbound call failed", extra={"error": str(exc)})
                await self.recorder.event("command_failed", {"command": "transfer"})
                await self._hangup_now("transfer_failed")
        return True


class LineHolder:
    """The talker of a call being put through: silent until the channel leaves AudioSocket
    (a hangup frame from us would end the call before the Redirect moves it)."""

    async def run(self, audio: CallAudio) -> None:
        async for _frame in audio.inbound():
            pass

    def result(self) -> TalkerResult | None:
        return None

    async def on_command(self, command: CallCommand) -> None:
        """Nothing talks on this call; commands for the channel are the attempt's."""

    async def aclose(self) -> None:
        """Nothing to close."""
