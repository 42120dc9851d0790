"""What the bridge does with what it hears of the callee: greet a silent one, follow the
voicemail policy in front of a machine, wait out a hold and come back for a person.

Why apart from the bridge: the bridge moves audio and events; this decides, from the
CalleeWatch's signals and the model's report_voicemail / report_on_hold, when the model
listens and when the agent may speak (docs/protocols.md, Answering machines, beeps and
hold). It owns the call's HoldMode and VoicemailMode.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from audio_processing.call_audio import CallAudio
from audio_processing.call_turns import TurnSink
from audio_processing.callee_watch import CalleeWatch, Heard
from audio_processing.realtime.agent_speech import AgentSpeech
from audio_processing.realtime.audio import ModelAudio
from audio_processing.realtime.events import FunctionCall
from audio_processing.realtime.hold_mode import HoldMode
from audio_processing.realtime.model_link import ModelLink
from audio_processing.realtime.voicemail_mode import VoicemailMode
from audio_processing.talker_result import AnsweredBy, TalkerEnd, TalkerResult
from common.call_policy import DEFAULT_MAX_HOLD_MINUTES, VoicemailPolicy

log = logging.getLogger(__name__)

Silence = Callable[[CallAudio], Awaitable[None]]  # stop the agent now (flush, truncate)
Deliver = Callable[[str, str], Awaitable[bool]]  # a function call's output to the model


@dataclass(frozen=True)
class CalleeHandling:
    """What this call's campaign asks when a machine answers or the call is put on hold."""

    voicemail: VoicemailPolicy = VoicemailPolicy.HANG_UP_AND_RETRY
    voicemail_message: str = "Hello, this is an AI assistant. We will try again later."
    max_hold_s: float = DEFAULT_MAX_HOLD_MINUTES * 60.0


class CalleeModes:
    def __init__(
        self,
        handling: CalleeHandling,
        sink: TurnSink | None,
        *,
        greet_after: float | None,
        beep_wait: float,
        silence: Silence,
    ) -> None:
        greet_ms = (greet_after or 0.0) * 1000
        self.watch = CalleeWatch(greet_after_ms=greet_ms or float("inf"))
        self.hold = HoldMode(self.watch, sink, handling.max_hold_s)
        self.voicemail = VoicemailMode(
            self.watch, handling.voicemail, handling.voicemail_message, beep_wait=beep_wait
        )
        self._silence = silence
        self._answer_owed = False

    @property
    def listening(self) -> bool:
        """The model hears the callee (not on hold, not in front of a machine)."""
        return not self.hold.on and not self.voicemail.active

    async def on_frame(
        self, frame: bytes, link: ModelLink, audio: CallAudio, codec: ModelAudio
    ) -> TalkerResult | None:
        """One caller frame heard (before it may go to the model)."""
        for heard in self.watch.feed(frame):
            if (ended := await self._on_heard(heard, link, audio, codec)) is not None:
                return ended
        if self._answer_owed and not self.watch.beep_pending:
            self._answer_owed = False  # the tone was no beep: answer the callee after all
            if self.listening and not link.response_active:
                await link.respond()
        now = asyncio.get_running_loop().time()
        if self.hold.too_long(now):
            log.info("hold went on too long", extra={"limit_s": self.hold.max_hold_s})
            return TalkerResult(TalkerEnd.HOLD_TIMEOUT)
        await self.voicemail.tick(link, now)
        if not self.listening:
            self.hold.skipped(len(frame) * 1000 / (2 * self.watch.rate))
        return None

    def may_answer(self) -> bool:
        """The callee paused: may the agent answer now? Not while a tone that may be a
        voicemail beep is still being judged (then the answer waits for the verdict)."""
        if self.watch.beep_pending:
            self._answer_owed = True
            return False
        return self.listening

    async def _on_heard(
        self, heard: Heard, link: ModelLink, audio: CallAudio, codec: ModelAudio
    ) -> TalkerResult | None:
        if heard is Heard.SILENCE and self.listening and link.responses_asked == 0:
            await link.respond()  # the callee has said nothing: the agent speaks first
        elif heard is Heard.BEEP and self.voicemail.active:
            await self.voicemail.on_beep(link)
        elif heard is Heard.BEEP:
            return await self._machine(link, audio, "beep")
        elif heard is Heard.MUSIC and self.listening:
            await self.hold.enter(link, audio, "music")
        elif heard is Heard.PERSON and self.hold.on:
            await self.hold.leave(link, audio, codec)
        return None

    async def on_report(
        self, call: FunctionCall, link: ModelLink, audio: CallAudio, deliver: Deliver
    ) -> tuple[TalkerResult | None, bool]:
        """report_voicemail / report_on_hold: (a result when the call ends now, whether
        the model should go on once its response is done)."""
        if call.name == "report_on_hold":
            await deliver(call.call_id, _output(on_hold=True, note="stay silent"))
            if not self.voicemail.active:
                await self.hold.enter(link, audio, "model")
            return None, False
        confirmed = self.voicemail.active or self.voicemail.confirms(model_says_voicemail=True)
        note = "follow the voicemail policy" if confirmed else "not confirmed: carry on"
        await deliver(call.call_id, _output(voicemail=confirmed, note=note))
        if not confirmed or self.voicemail.active:
            return None, not confirmed
        return await self._machine(link, audio, "model"), False

    async def _machine(self, link: ModelLink, audio: CallAudio, by: str) -> TalkerResult | None:
        """A machine answered: silence the agent, stop listening, follow the policy."""
        self.hold.end(audio)
        self.voicemail.active = True
        await self._silence(audio)
        await link.cancel()
        return await self.voicemail.start(link, asyncio.get_running_loop().time(), by)

    def result_fields(self, audio: CallAudio, speech: AgentSpeech) -> dict[str, Any]:
        """What the call learned of its callee, for the TalkerResult (the call is over)."""
        self.hold.end(audio)
        spoke = AnsweredBy.PERSON if self.watch.greeting.spoke else None
        return {
            "answered_by": AnsweredBy.MACHINE if self.voicemail.active else spoke,
            "message_left": self.voicemail.message_left(audio, speech),
            "hold_ms": int(self.hold.total_s * 1000),
            "model_audio_avoided_ms": int(self.hold.avoided_ms),
        }


def _output(**fields: object) -> str:
    return json.dumps(fields)
