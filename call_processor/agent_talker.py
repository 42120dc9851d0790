"""The AI agent on a call: a pre-warmed realtime session, its tools and its transcript.

Why prepared before dialing: opening and configuring the model's socket takes hundreds of
milliseconds; doing it while the phone rings lets the agent greet the moment the callee
answers. If nobody answers, `aclose()` closes the unused session.
"""

from __future__ import annotations

from datetime import UTC, datetime

from openai import AsyncOpenAI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from audio_processing.call_audio import CallAudio
from audio_processing.call_brief import CallBrief, build_instructions
from audio_processing.never_share import values as never_share_values
from audio_processing.realtime.bridge import BridgeOptions, RealtimeBridge
from audio_processing.realtime.callee_modes import CalleeHandling
from audio_processing.realtime.session import RealtimeSession
from audio_processing.realtime.session_config import build_session_config, turn_detection_config
from audio_processing.realtime.tools import tool_schemas
from audio_processing.talker_result import TalkerResult
from audio_processing.voicemail_message import voicemail_message
from call_processor.agent_brief import brief_from_context, callee_zone
from call_processor.call_initiator import CallRequest
from call_processor.call_tools import CallToolHost, PersonSender
from call_processor.turn_writer import TurnWriter
from common.call_policy import CallPolicy
from common.command_bus import CommandBus
from common.commands import CallCommand
from common.metrics import PlatformMetrics
from config.settings import OpenAISettings
from database.profile import Profile
from database.repositories import users


class AgentTalker:
    """The production PreparedTalker: the bridge talks, the tools act, the turns are stored."""

    def __init__(
        self,
        bridge: RealtimeBridge,
        session: RealtimeSession,
        turns: TurnWriter,
        tools: CallToolHost,
    ) -> None:
        self.bridge, self.session, self.turns, self.tools = bridge, session, turns, tools

    async def run(self, audio: CallAudio) -> None:
        await self.bridge.run(audio)

    async def on_command(self, command: CallCommand) -> None:
        await self.tools.on_command(command)

    def result(self) -> TalkerResult | None:
        """The bridge's result: facts are not in it, the tool host stored them on the row."""
        return self.bridge.result

    async def aclose(self) -> None:
        try:
            await self.session.aclose()
        finally:
            await self.turns.aclose()


class AgentTalkerFactory:
    """The production TalkerFactory: one AgentTalker per call, session opened at once."""

    def __init__(
        self,
        *,
        client: AsyncOpenAI,
        openai: OpenAISettings,
        sessions: async_sessionmaker[AsyncSession],
        bus: CommandBus,
        options: BridgeOptions | None = None,
        feedback_timeout: float = 120.0,
        senders: dict[str, PersonSender] | None = None,
        metrics: PlatformMetrics | None = None,
    ) -> None:
        self.client, self.openai = client, openai
        self.sessions, self.bus = sessions, bus
        self.options = options or BridgeOptions(input_batch_frames=openai.input_batch_frames)
        self.feedback_timeout = feedback_timeout
        self.senders = senders or {}
        self.metrics = metrics

    async def prepare(self, request: CallRequest, call_id: str) -> AgentTalker:
        name, profile = await self._person(request)
        brief = brief_from_context(request.context, name, profile, datetime.now(UTC))
        tools = CallToolHost(
            sessions=self.sessions,
            bus=self.bus,
            user_id=request.user_id,
            call_id=call_id,
            task_id=request.task_id,
            feedback_timeout=self.feedback_timeout,
            senders=self.senders,
            callee_zone=callee_zone(request.context),
        )
        config = build_session_config(
            model=self.openai.realtime_model,
            instructions=build_instructions(brief),
            voice=self.openai.voice,
            turn_detection=turn_detection_config(self.openai.turn_detection),
            transcription_model=self.openai.transcription_model or None,
            tools=tool_schemas(tools.tool_names),
        )
        session = RealtimeSession(self.client, config, name=f"{call_id}:realtime")
        session.prewarm()
        turns = TurnWriter(
            self.sessions,
            self.bus,
            user_id=request.user_id,
            call_id=call_id,
            observe_latency=self.metrics.turn_latency.observe if self.metrics else None,
            never_share=never_share_values(profile.never_share),
            observe_hold=self.metrics.observe_hold if self.metrics else None,
        )
        bridge = RealtimeBridge(session, tools, turns, self.options, _handling(request, brief))
        return AgentTalker(bridge, session, turns, tools)

    async def _person(self, request: CallRequest) -> tuple[str, Profile]:
        """Only this user's data: their name and their own profile."""
        async with self.sessions() as s:
            person = await users.get(s, request.user_id)
        if person is None:
            return "a client", Profile()
        return person.display_name or "a client", person.profile


def _handling(request: CallRequest, brief: CallBrief) -> CalleeHandling:
    """The campaign's policy for machines and hold; the message names no private fact."""
    policy = CallPolicy.from_context(request.context)
    return CalleeHandling(
        voicemail=policy.voicemail,
        voicemail_message=voicemail_message(brief.on_behalf_of, brief.objective, brief.callee),
        max_hold_s=policy.max_hold_minutes * 60.0,
    )
