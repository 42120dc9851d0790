"""Three bridge fixes (issue 12): a stalled model with a talking callee, agent turns stored
as heard, and a transfer that waits for its announcement (fake model, paced call)."""

from __future__ import annotations

import asyncio
import time

from openai import AsyncOpenAI

from audio_processing.call_turns import CUT_MARK, Turn
from audio_processing.talker_result import TalkerEnd
from launcher.openai_clients import realtime_client
from tests.audio.signals import silence, syllables
from tests.realtime.bridge_support import Sink, Tools, hang_up, start, until
from tests.realtime.conftest import PacedCall, ulaw_tone, voice
from tests.support.fake_realtime import (
    CallFunction,
    FakeRealtimeServer,
    Hang,
    Response,
    Say,
    Script,
)


class TimedSink(Sink):
    def __init__(self) -> None:
        super().__init__()
        self.given: list[float] = []  # time.monotonic() of each turn

    def on_turn(self, turn: Turn) -> None:
        self.given.append(time.monotonic())
        super().on_turn(turn)


WORDS = " ".join(f"word{i}" for i in range(1, 21))  # twenty words over 3 s of audio


async def test_a_stalled_model_with_a_talking_callee_hangs_up_within_the_stall_timeout(
    call: PacedCall,
) -> None:
    """The callee keeps talking in short turns (VAD events keep coming, each pause asks for
    an answer); the model answers none. Only model output may hold the stall clock back."""
    async with FakeRealtimeServer(vad_hangover_ms=100) as fake:
        fake.script = Script([Response([Hang()], trigger="speech_stopped")])
        stalled_client = realtime_client("test-key", fake.base_url)
        bridge, task = await start(stalled_client, call, stall_timeout=0.6)
        feeding = asyncio.get_running_loop().create_task(call.feed(syllables(6000)))
        await asyncio.wait_for(task, 8)
        ended = time.monotonic()
        feeding.cancel()
        first_ask = fake.received("response.create")[0].at
        vad = [e.at for e in fake.session.sent if e.type.startswith("input_audio_buffer.speech")]
        await stalled_client.close()
    assert bridge.result is not None
    assert bridge.result.reason is TalkerEnd.MODEL_STALLED
    assert ended - first_ask <= 0.6 + 1.0
    assert any(first_ask < at < ended for at in vad)  # the callee was talking meanwhile


async def test_a_greeting_cut_off_is_stored_as_heard(
    client: AsyncOpenAI, fake: FakeRealtimeServer, call: PacedCall
) -> None:
    fake.script = Script([Response([Say(ulaw_tone(3000), WORDS)])])
    sink = Sink()
    _bridge, task = await start(client, call, sink=sink, greet_after=0.0)
    await until(lambda: len(call.voiced()) * 20 >= 600)
    await call.feed(voice(100) + silence(400), interval=0.005)
    [truncate] = await fake.wait_for("conversation.item.truncate")
    heard = truncate.event["audio_end_ms"]
    await until(lambda: sink.turns)
    await hang_up(call, task)
    [turn] = sink.turns
    assert turn.cut_at_ms == heard
    kept = WORDS.split()[: 20 * heard // 3000]
    assert turn.text == " ".join([*kept, CUT_MARK])  # not the 20 words the model wrote


async def test_an_agent_turn_is_given_once_its_audio_has_played(
    client: AsyncOpenAI, fake: FakeRealtimeServer, call: PacedCall
) -> None:
    fake.script = Script([Response([Say(ulaw_tone(600), "Hello there.")])])
    sink = TimedSink()
    _bridge, task = await start(client, call, sink=sink, greet_after=0.0)
    await until(lambda: sink.turns)
    await hang_up(call, task)
    last_frame = call.voiced()[-1][0]
    # The transcript came long before; the turn waited for the last frame (it is handed
    # over as that frame is taken for writing, microseconds before the write is stamped).
    assert sink.given[0] >= last_frame - 0.002
    assert (sink.turns[0].text, sink.turns[0].cut_at_ms) == ("Hello there.", None)


async def test_a_transfer_waits_until_its_announcement_has_played(
    client: AsyncOpenAI, fake: FakeRealtimeServer, call: PacedCall
) -> None:
    fake.script = Script(
        [Response([Say(ulaw_tone(800), "Connecting you now."), CallFunction("transfer_to_user")])]
    )
    tools = Tools(answer='{"transferring": true}')
    _bridge, task = await start(client, call, tools=tools, greet_after=0.0)
    await until(lambda: tools.calls)
    announced = call.voiced()
    assert len(announced) * 20 == 800  # the whole announcement, before the transfer
    assert tools.called_at[0] >= announced[-1][0]
    await hang_up(call, task)
