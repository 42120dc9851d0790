"""An answering machine answered: follow the campaign's voicemail policy.

Why the bridge decides and not the model alone: the model hears a greeting only when it
is asked to answer one, and a verdict must never cost a person anything. A machine is
confirmed by a beep, or by the model's report_voicemail after a greeting long enough to be
a recording (CalleeWatch.machine). Then the agent stops talking and the model stops
hearing the callee; hang_up_and_retry and notify_person hang up at once, leave_message
waits for the beep (or for `beep_wait` after the model's report, since some machines do
not beep), has the model say the composed message (voicemail_message) and hangs up once
it has played (docs/protocols.md, Answering machines, beeps and hold).
"""

from __future__ import annotations

import logging

from audio_processing.call_audio import CallAudio
from audio_processing.callee_watch import CalleeWatch
from audio_processing.realtime.agent_speech import AgentSpeech
from audio_processing.realtime.model_link import ModelLink
from audio_processing.talker_result import AnsweredBy, TalkerEnd, TalkerResult
from audio_processing.voicemail_message import message_instructions
from common.call_outcomes import AgentOutcome
from common.call_policy import VoicemailPolicy

log = logging.getLogger(__name__)

MIN_MESSAGE_MS = 1000  # less than this played is no message


class VoicemailMode:
    def __init__(
        self, watch: CalleeWatch, policy: VoicemailPolicy, message: str, *, beep_wait: float
    ) -> None:
        self.watch = watch
        self.policy = policy
        self.message = message
        self.beep_wait = beep_wait
        self.active = False  # a machine was confirmed
        self.asked = False  # the message was asked of the model
        self._beep_deadline: float | None = None
        self._response: str | None = None
        self._items: list[str] = []  # the message's audio items

    def confirms(self, model_says_voicemail: bool) -> bool:
        return self.watch.machine(model_says_voicemail)

    async def start(self, link: ModelLink, now: float, by: str) -> TalkerResult | None:
        """The machine is confirmed (the agent is already silenced): a result when the call
        ends now, None while a message is still to be left."""
        self.active = True
        log.info("answering machine", extra={"signal": by, "policy": str(self.policy)})
        if self.policy is not VoicemailPolicy.LEAVE_MESSAGE:
            return self.ended(TalkerEnd.MACHINE)
        if self.watch.beep is not None:
            await self._leave(link)
        else:
            self._beep_deadline = now + self.beep_wait
        return None

    async def on_beep(self, link: ModelLink) -> None:
        if self._beep_deadline is not None:
            await self._leave(link)

    async def tick(self, link: ModelLink, now: float) -> None:
        """No beep came in time: leave the message anyway."""
        if self._beep_deadline is not None and now >= self._beep_deadline:
            await self._leave(link)

    async def _leave(self, link: ModelLink) -> None:
        self._beep_deadline, self.asked = None, True
        await link.respond(instructions=message_instructions(self.message), tool_choice="none")

    def on_response_created(self, response_id: str) -> None:
        if self.asked and self._response is None:
            self._response = response_id

    def on_audio(self, item: str) -> None:
        if self._response is not None and item not in self._items:
            self._items.append(item)

    def is_message(self, response_id: str) -> bool:
        return self._response is not None and response_id == self._response

    def message_left(self, audio: CallAudio, speech: AgentSpeech) -> bool | None:
        """None before a machine; True when the whole message played (and was a message)."""
        if not self.active:
            return None
        generated = sum(speech.generated_ms(i) for i in self._items)
        played = sum(min(audio.played_ms(i), speech.generated_ms(i)) for i in self._items)
        return played >= MIN_MESSAGE_MS and played >= generated - 20 * len(self._items)

    def ended(self, reason: TalkerEnd) -> TalkerResult:
        return TalkerResult(
            reason,
            agent_outcome=AgentOutcome.VOICEMAIL,
            summary=f"An answering machine answered ({self.policy.replace('_', ' ')}).",
            answered_by=AnsweredBy.MACHINE,
        )
