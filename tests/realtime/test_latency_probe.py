"""The reply-latency probe on a real CallAudio: timed at the reply's first written frame."""

from __future__ import annotations

import time

from audio_processing.call_audio import CallAudio, CallMetadata
from audio_processing.call_turns import Turn
from audio_processing.playout import PlayoutQueue
from audio_processing.realtime.latency import LatencyProbe


class Sink:
    def __init__(self) -> None:
        self.latencies: list[float] = []

    def on_turn(self, turn: Turn) -> None:
        raise AssertionError("the probe reports latencies only")

    def on_latency(self, latency_ms: float) -> None:
        self.latencies.append(latency_ms)


def test_a_reply_is_timed_from_the_end_of_the_turn_to_its_first_written_frame() -> None:
    audio, sink = CallAudio(CallMetadata("c"), PlayoutQueue(8000)), Sink()
    probe = LatencyProbe(sink)
    probe.turn_ended()
    probe.reply_started("reply", audio)
    audio.enqueue(bytes(640), mark="reply")
    time.sleep(0.05)  # the reply waits in the queue: that counts
    assert sink.latencies == []  # queued is not heard
    audio.playout.take()
    assert len(sink.latencies) == 1
    assert 50 <= sink.latencies[0] < 1000
    assert probe.latencies_ms == sink.latencies


def test_only_the_first_reply_after_a_turn_and_never_a_flushed_one_is_timed() -> None:
    audio, sink = CallAudio(CallMetadata("c"), PlayoutQueue(8000)), Sink()
    probe = LatencyProbe(sink)
    probe.reply_started("unprompted", audio)  # no turn ended: nobody was waiting
    audio.enqueue(bytes(320), mark="unprompted")
    audio.playout.take()
    probe.turn_ended()
    probe.reply_started("cut", audio)
    audio.enqueue(bytes(320), mark="cut")
    audio.flush()  # the callee spoke again before it played
    audio.enqueue(bytes(320), mark="cut")  # a late delta of the cut reply, before truncate
    audio.playout.take()
    assert sink.latencies == []
