"""Whether the model owes the call an answer, and since when. Pure: times are passed in.

Why only model output counts: the server keeps sending VAD and transcription events while
the callee talks, so a timer restarted by any event never fired while a talking callee
waited on a silent model (16.2 s of dead air was observed). The clock starts when a
response is asked for and is reset only by the model producing something (audio, words, a
tool call); a response that ends with nothing in it, or is cancelled by the callee
barging in before it said anything, leaves the debt standing (docs/protocols.md, Realtime).
"""

from __future__ import annotations

from audio_processing.realtime.events import (
    AgentTranscript,
    AudioDelta,
    FunctionCall,
    OtherEvent,
    ServerEvent,
)

_OUTPUT_PREFIXES = ("response.output_", "response.content_part.", "response.function_call_")


def is_model_output(event: ServerEvent) -> bool:
    """The model produced part of a response (not VAD, transcription or acknowledgements)."""
    if isinstance(event, AudioDelta | FunctionCall | AgentTranscript):
        return True
    return isinstance(event, OtherEvent) and event.type.startswith(_OUTPUT_PREFIXES)


class ModelStall:
    """`asked(now)` when a response is requested; `output(now)` on model output;
    `done(had_output)` on response.done; `left(now)` says how long until it has stalled."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.owed_since: float | None = None

    def asked(self, now: float) -> None:
        if self.owed_since is None:
            self.owed_since = now

    def output(self, now: float) -> None:
        if self.owed_since is not None:
            self.owed_since = now  # alive: the clock restarts, the answer is still owed

    def done(self, had_output: bool) -> None:
        if had_output:
            self.owed_since = None

    def left(self, now: float) -> float | None:
        """Seconds until the model counts as stalled (≤ 0: it has); None: nothing owed."""
        if self.owed_since is None:
            return None
        return self.timeout - (now - self.owed_since)
