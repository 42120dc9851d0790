"""Live listening's pure wire format, and the tap's lifetime on a real CallAudio and an
in-process bus: audio flows only while renewed, and the call's audio path is left as it was."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from audio_processing.call_audio import AGENT, CALLEE, CallAudio, CallMetadata
from audio_processing.expected_call import ExpectedCall
from audio_processing.g711 import ulaw_to_slin
from audio_processing.playout import PlayoutQueue
from call_processor.live_listen import ListenTap, decode_records, encode_record
from common.command_bus import InProcessCommandBus
from common.owned_tasks import TaskOwner

FRAME = bytes(range(256)) * 1 + bytes(64)  # 320 bytes: one 20 ms slin frame at 8 kHz

records = st.lists(
    st.tuples(
        st.sampled_from([CALLEE, AGENT]),
        st.sampled_from([8000, 16000, 24000]),
        st.binary(max_size=960).map(lambda b: b[: len(b) - len(b) % 2]),
    ),
    max_size=10,
)


@given(records)
def test_records_round_trip_as_ulaw(frames: list[tuple[int, int, bytes]]) -> None:
    message = b"".join(encode_record(side, rate, pcm) for side, rate, pcm in frames)
    decoded = list(decode_records(message))
    assert [(side, rate) for side, rate, _ in decoded] == [(s, r) for s, r, _ in frames]
    for (_s, _r, ulaw), (_side, _rate, pcm) in zip(decoded, frames, strict=True):
        assert len(ulaw) == len(pcm) // 2
        assert len(ulaw_to_slin(ulaw)) == len(pcm)


@given(records, st.integers(min_value=1, max_value=50))
def test_a_truncated_message_gives_its_whole_records_only(
    frames: list[tuple[int, int, bytes]], cut: int
) -> None:
    message = b"".join(encode_record(side, rate, pcm) for side, rate, pcm in frames)
    whole = list(decode_records(message))
    partial = list(decode_records(message[: max(0, len(message) - cut)]))
    assert partial == whole[: len(partial)]


async def test_audio_flows_while_renewed_and_the_call_is_left_as_it_was() -> None:
    metadata = CallMetadata(call_id="c1", user_id="1")
    audio = CallAudio(metadata, PlayoutQueue())
    expected = ExpectedCall(metadata, talker=None)  # type: ignore[arg-type]  # not run here
    expected.audio = audio
    bus, owner = InProcessCommandBus(), TaskOwner("test")
    tap = ListenTap("c1", expected, bus, owner)
    async with bus.subscribe_call_audio("c1") as heard:
        tap.extend(0.3)
        await asyncio.sleep(0.05)  # attached on the first tick
        audio.push_inbound(FRAME)
        audio.enqueue(FRAME)
        assert audio.playout.take() == FRAME  # what the writer would send to Asterisk
        message = await asyncio.wait_for(anext(aiter(heard)), 1.0)
        assert [side for side, _, _ in decode_records(message)] == [CALLEE, AGENT]
        assert await anext(aiter(audio.inbound())) == FRAME  # the talker still gets it
        await asyncio.sleep(0.4)  # past the deadline: the tap leaves the call
        assert audio._listen_tap is None
        assert audio.playout.tap is None
        audio.push_inbound(FRAME)
        await asyncio.sleep(0.1)
        assert tap.published == 1
    await owner.aclose()
    await bus.aclose()
