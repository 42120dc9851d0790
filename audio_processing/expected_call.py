"""A call the initiator registered with the AudioSocket server, before and after it attaches.

Why a handle apart from the server: the call attempt waits on it (`connected()`, `ended()`)
without reaching into the server, and the server settles it exactly once, also when
Asterisk never connects (forgotten, or the server stopping).
"""

from __future__ import annotations

import asyncio

from audio_processing.call_audio import CallAudio, CallMetadata, CallTalker, EndReason


class ExpectedCall:
    """The initiator's handle on a registered call: await `connected()` and `ended()`."""

    def __init__(self, metadata: CallMetadata, talker: CallTalker) -> None:
        self.metadata = metadata
        self.talker = talker
        self.audio: CallAudio | None = None
        self.end_reason: EndReason | None = None
        self._settled = asyncio.Event()
        self._ended = asyncio.Event()

    @property
    def call_id(self) -> str:
        return self.metadata.call_id

    @property
    def attached(self) -> bool:
        return self.audio is not None

    async def connected(self) -> bool:
        """True once Asterisk attached; False if the call ended without ever attaching."""
        await self._settled.wait()
        return self.audio is not None

    async def ended(self) -> EndReason:
        await self._ended.wait()
        assert self.end_reason is not None
        return self.end_reason

    def _attach(self, audio: CallAudio) -> None:
        """Called by AudioSocketServer when Asterisk's UUID frame names this call."""
        self.audio = audio
        self._settled.set()

    def _finish(self, reason: EndReason) -> None:
        """Called by AudioSocketServer; the first reason wins, later ones are ignored."""
        if self.end_reason is None:
            self.end_reason = reason
        self._settled.set()
        self._ended.set()
