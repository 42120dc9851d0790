"""The model's function calls, each run beside the call's audio, and the reply they earn.

Why in their own tasks: a slow tool (a question for the person, who may take a minute)
must never stop audio or barge-in. Each output goes back to the model as soon as it is
ready; the model is asked to respond once, when every output of its response is in and
the response itself is done (asking earlier starts a reply without the later outputs).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from audio_processing.realtime.events import FunctionCall
from audio_processing.realtime.tools import ToolHost
from common.owned_tasks import TaskOwner

log = logging.getLogger(__name__)

Deliver = Callable[[str, str], Awaitable[bool]]  # (call_id, output) → False: the model is gone
Settled = Callable[[], Awaitable[None]]  # outputs delivered: time to consider a response
Before = Callable[[], Awaitable[None]]  # what a tool waits for before it runs


class ToolDispatcher:
    """Runs tools through the call's ToolHost; `wants_response` says when to reply."""

    def __init__(
        self,
        host: ToolHost,
        deliver: Deliver,
        on_settled: Settled,
        *,
        timeout: float = 120.0,
        name: str = "tools",
    ) -> None:
        self.host = host
        self._deliver, self._on_settled = deliver, on_settled
        self.timeout = timeout
        self.running = 0
        self._outputs_waiting = False  # outputs delivered since the last response.create
        self._owner = TaskOwner(name)

    @property
    def wants_response(self) -> bool:
        """Outputs are waiting for a reply and no tool is still running."""
        return self._outputs_waiting and self.running == 0

    def responded(self) -> None:
        """A response.create went out: the waiting outputs are part of it."""
        self._outputs_waiting = False

    def answered(self) -> None:
        """An output was delivered outside a tool run (the bridge answered it itself) and
        wants the model to go on."""
        self._outputs_waiting = True

    def dispatch(self, call: FunctionCall, before: Before | None = None) -> None:
        """Run the tool beside the audio; `before()` is awaited first (e.g. a transfer waits
        for its announcement to finish playing)."""
        self.running += 1
        self._owner.spawn(self._run(call, before), name=f"tool:{call.name}")

    async def aclose(self) -> None:
        """The call is over: tools still running are cancelled."""
        await self._owner.aclose(timeout=2.0)

    async def _run(self, call: FunctionCall, before: Before | None) -> None:
        try:
            if before is not None:
                await before()
            output = await self._output(call)
            if not await self._deliver(call.call_id, output):
                return  # the model's socket is gone; the bridge ends the call
            self._outputs_waiting = True
        finally:
            self.running -= 1
        await self._on_settled()

    async def _output(self, call: FunctionCall) -> str:
        """The tool's answer for the model; a failure is an answer too, never a crash."""
        if call.arguments_error:
            return f"error: {call.arguments_error}"
        try:
            async with asyncio.timeout(self.timeout):
                return await self.host.call_tool(call.name, call.arguments)
        except TimeoutError:
            log.warning("tool timed out", extra={"tool": call.name})
            return "error: the tool did not answer in time"
        except Exception as exc:
            log.warning("tool failed", extra={"tool": call.name}, exc_info=True)
            return f"error: {type(exc).__name__}"
