"""The agent that says one message and hangs up: for inbound callers we cannot match.

Why the Realtime model and not a recorded prompt: the message is text in a setting
(INBOUND_UNKNOWN_MESSAGE) that an operator changes without recording anything, it is spoken
in the same voice as every other call, and no dialplan change is needed (the call is
already in AudioSocket when we learn who is calling). Why this small: an unknown caller
belongs to nobody, so the agent gets no person's name, task, profile or tool; it may only
say the message and end the call, and nothing it hears is stored.
"""

from __future__ import annotations

import json
from typing import Any

from openai import AsyncOpenAI

from audio_processing.call_audio import CallAudio
from audio_processing.realtime.bridge import BridgeOptions, RealtimeBridge
from audio_processing.realtime.session import RealtimeSession
from audio_processing.realtime.session_config import build_session_config, turn_detection_config
from audio_processing.realtime.tools import tool_schemas
from audio_processing.talker_result import TalkerResult
from common.commands import CallCommand
from config.settings import OpenAISettings


def message_instructions(message: str) -> str:
    """The whole brief of an agent that must say `message` and nothing else."""
    return "\n".join(
        [
            "You answer a phone call on behalf of an automated calling service.",
            f'Say exactly this, once, then call end_call: "{message}"',
            "Say nothing else. Answer no question, and share nothing about anyone.",
        ]
    )


class _NoTools:
    """Offers nothing but end_call, which the bridge handles itself."""

    async def call_tool(self, name: str, args: dict[str, Any]) -> str:
        return json.dumps({"error": f"unknown tool {name}"})


class MessageTalker:
    """A PreparedTalker: the model says the message, then end_call ends the call."""

    def __init__(self, bridge: RealtimeBridge, session: RealtimeSession) -> None:
        self.bridge, self.session = bridge, session

    async def run(self, audio: CallAudio) -> None:
        await self.bridge.run(audio)

    def result(self) -> TalkerResult | None:
        return self.bridge.result

    async def on_command(self, command: CallCommand) -> None:
        """Nobody may command a call that belongs to nobody."""

    async def aclose(self) -> None:
        await self.session.aclose()


class MessageTalkers:
    """Opens one message-only model session per call (no turns stored)."""

    def __init__(
        self, client: AsyncOpenAI, openai: OpenAISettings, options: BridgeOptions | None = None
    ) -> None:
        self.client, self.openai = client, openai
        self.options = options or BridgeOptions(input_batch_frames=openai.input_batch_frames)

    def prepare(self, call_id: str, message: str) -> MessageTalker:
        config = build_session_config(
            model=self.openai.realtime_model,
            instructions=message_instructions(message),
            voice=self.openai.voice,
            turn_detection=turn_detection_config(self.openai.turn_detection),
            tools=tool_schemas(["end_call"]),
        )
        session = RealtimeSession(self.client, config, name=f"{call_id}:message")
        session.prewarm()
        return MessageTalker(RealtimeBridge(session, _NoTools(), None, self.options), session)
