"""Everything the bridge sends to the model for one call, each send bounded in time.

Why one object: the bridge, the hold and the voicemail handling all talk to the same
socket, and every request for a response must be counted the same way (the stall clock,
and the tool outputs it answers), so asking for a response has one door: `respond()`.
With `turn_detection.create_response: false` the server never answers on its own; the
agent speaks only when asked here (docs/protocols.md, session.update (GA shape)).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from openai.resources.realtime.realtime import AsyncRealtimeConnection
from openai.types.realtime import RealtimeResponseCreateParamsParam
from websockets.exceptions import ConnectionClosed

from audio_processing.realtime.events import user_text_item
from audio_processing.realtime.session import sdk_item
from audio_processing.realtime.stall import ModelStall

T = TypeVar("T")

# input_audio_buffer.append, 50 times a second per call, built by hand: the SDK's send()
# validates every event against its whole union of event types, which was about a third of
# the platform's CPU per call in the benchmark profile. Base64 needs no JSON escaping.
_APPEND_HEAD = '{"type":"input_audio_buffer.append","audio":"'
_APPEND_TAIL = '"}'


class ModelGone(Exception):
    """The socket closed or a send could not complete in time."""


class ModelLink:
    def __init__(
        self,
        conn: AsyncRealtimeConnection,
        stall: ModelStall,
        *,
        send_timeout: float,
        on_respond: Callable[[], None] = lambda: None,
    ) -> None:
        self.conn = conn
        self.stall = stall
        self.send_timeout = send_timeout
        self._on_respond = on_respond  # e.g. the tool outputs waiting are now answered
        self.response_active = False  # between response.created and response.done
        self.responses_asked = 0

    async def send(self, sending: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout(self.send_timeout):
                return await sending
        except (TimeoutError, ConnectionClosed) as exc:
            raise ModelGone(type(exc).__name__) from exc

    async def append(self, audio: bytes) -> None:
        """Caller audio, already in the session's input format."""
        b64 = base64.b64encode(audio).decode("ascii")
        await self.send(self.conn.send_raw(_APPEND_HEAD + b64 + _APPEND_TAIL))

    async def respond(self, **response: Any) -> None:
        """Ask the model to speak (with per-response settings, e.g. instructions)."""
        self._on_respond()
        self.responses_asked += 1
        self.stall.asked(asyncio.get_running_loop().time())
        if response:
            params = cast("RealtimeResponseCreateParamsParam", response)
            await self.send(self.conn.response.create(response=params))
        else:
            await self.send(self.conn.response.create())

    async def cancel(self) -> None:
        """Stop the response in progress, if any."""
        if self.response_active:
            await self.send(self.conn.response.cancel())

    async def add_item(self, item: dict[str, Any]) -> None:
        await self.send(self.conn.conversation.item.create(item=sdk_item(item)))

    async def tell(self, text: str, role: str = "system") -> None:
        """A message in the conversation that asks for no answer by itself."""
        item = user_text_item(text)
        item["role"] = role
        await self.add_item(item)

    async def truncate(self, item_id: str, played_ms: int) -> None:
        await self.send(
            self.conn.conversation.item.truncate(
                item_id=item_id, content_index=0, audio_end_ms=played_ms
            )
        )

    async def clear_input(self) -> None:
        """Drop caller audio the server has not committed to a turn yet."""
        await self.send(self.conn.input_audio_buffer.clear())
