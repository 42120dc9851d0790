"""The agent's turns, handed to the sink once the callee has heard them (or been cut off).

Why wait: the model sends an item's whole transcript long before its audio has played.
A turn is given to the sink when the item's last frame is written, when a barge-in cuts
it (then only the share of the words that was heard, with the played milliseconds), or
when the call ends with it still playing (docs/protocols.md, Barge-in and truncate).
"""

from __future__ import annotations

from datetime import UTC, datetime

from audio_processing.call_audio import CallAudio
from audio_processing.call_turns import Turn, TurnSink, heard_text
from audio_processing.playout import FRAME_MS
from audio_processing.realtime.agent_speech import AgentSpeech


class HeardTurns:
    def __init__(self, sink: TurnSink | None, speech: AgentSpeech) -> None:
        self.sink = sink
        self.speech = speech
        self._waiting: dict[str, str] = {}  # item → transcript, audio still playing
        self._cut: dict[str, int] = {}  # item → ms heard, for a transcript still to come

    def transcript(self, item: str, text: str, audio: CallAudio) -> None:
        """The item's transcript is complete (its audio has all arrived before it)."""
        if item in self._cut:
            self._give(item, text, self._cut.pop(item))
            return
        self._waiting[item] = text
        audio.on_played(item, lambda: self._played(item, audio))

    def cut(self, item: str, heard_ms: int) -> None:
        """A barge-in stopped the item after `heard_ms` (its unplayed audio is gone)."""
        text = self._waiting.pop(item, None)
        if text is None:
            self._cut[item] = heard_ms
        else:
            self._give(item, text, heard_ms)

    def close(self, audio: CallAudio) -> None:
        """The call is over: what is still waiting was heard as far as it played."""
        for item in list(self._waiting):
            self._played(item, audio)

    def _played(self, item: str, audio: CallAudio) -> None:
        text = self._waiting.pop(item, None)
        if text is not None:
            self._give(item, text, audio.played_ms(item))

    def _give(self, item: str, text: str, heard_ms: int) -> None:
        generated = self.speech.generated_ms(item)
        cut = generated > 0 and heard_ms < generated - FRAME_MS
        if self.sink is None:
            return
        self.sink.on_turn(
            Turn(
                "agent",
                heard_text(text, heard_ms, generated) if cut else text,
                item,
                self.speech.started_at(item),
                datetime.now(UTC),
                cut_at_ms=heard_ms if cut else None,
            )
        )
