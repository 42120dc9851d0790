"""The demo's OpenAI-compatible server, reached by the official SDK as the product reaches
it: the streamed planning chat, the judge's JSON verdict, and a GA Realtime session that
hears a callee's speech, transcribes it from the script and answers with the agent's line."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from audio_processing.g711 import slin_to_ulaw
from audio_processing.realtime.session_config import build_session_config
from audio_processing.voicemail_message import message_instructions
from launcher.demo import voice
from launcher.demo.callees import HARBOR, OAK_STREET, DemoCallee
from launcher.demo.openai_server import DemoOpenAI
from launcher.demo.planner import CLARIFY
from launcher.openai_clients import chat_client, realtime_client
from task_manager import assistant_prompt
from task_manager.call_judge import JSON_SCHEMA

BRIEF = "You are on a phone call on behalf of Ann.\nYou are calling: {name}."


@pytest.fixture
async def server() -> AsyncIterator[DemoOpenAI]:
    async with DemoOpenAI() as running:
        yield running


async def test_the_planning_chat_streams_through_the_sdk(server: DemoOpenAI) -> None:
    client = chat_client(server.key, server.base_url)
    try:
        stream = await client.chat.completions.create(
            model="gpt-4.1-mini",
            messages=[
                {"role": "system", "content": "You help Ann plan phone calls"},
                {"role": "user", "content": "call three dentists and book a cleaning"},
            ],
            tools=assistant_prompt.tools(False),
            stream=True,
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert text == CLARIFY
        judged = await client.chat.completions.create(
            model="gpt-4.1-mini",
            messages=[
                {"role": "system", "content": "judge"},
                {"role": "user", "content": "Agent's outcome: success\nAgent's summary: Wed"},
            ],
            response_format={"type": "json_schema", "json_schema": JSON_SCHEMA},
        )
        assert json.loads(judged.choices[0].message.content or "")["decision"] == "success"
    finally:
        await client.close()


async def test_another_key_is_refused(server: DemoOpenAI) -> None:
    client = chat_client("sk-someone-else", server.base_url)
    try:
        with pytest.raises(openai.AuthenticationError):
            await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}]
            )
    finally:
        await client.close()


async def brief(conn: Any, callee: DemoCallee) -> None:
    """session.update as the bridge sends it, for a call to `callee`."""
    config = build_session_config(
        model="gpt-realtime",
        instructions=BRIEF.format(name=callee.name),
        transcription_model="gpt-4o-mini-transcribe",
    )
    await conn.session.update(session=config)
    await events_until(conn, "session.updated")


async def speak(conn: Any, text: str) -> None:
    """The callee says `text`, then pauses: μ-law in 20 ms appends, as the bridge sends."""
    audio = slin_to_ulaw(voice.speech(text) + voice.silence(800))
    for start in range(0, len(audio), 160):
        await conn.input_audio_buffer.append(
            audio=base64.b64encode(audio[start : start + 160]).decode()
        )


async def events_until(conn: Any, kind: str) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    while not seen or seen[-1]["type"] != kind:
        seen.append(json.loads(await conn.recv_bytes()))
    return seen


@pytest.fixture
async def conn(server: DemoOpenAI) -> AsyncIterator[Any]:
    """A Realtime connection made as the product makes it (launcher/openai_clients.py)."""
    client = realtime_client(server.key, server.base_url)
    try:
        async with client.realtime.connect(model="gpt-realtime") as connection:
            yield connection
    finally:
        await client.close()


async def test_a_realtime_session_hears_the_callee_and_answers_with_the_agents_line(
    conn: Any,
) -> None:
    assert (await events_until(conn, "session.created"))[-1]["type"] == "session.created"
    await brief(conn, HARBOR)
    await speak(conn, HARBOR.exchanges[0].callee.text)
    heard = await events_until(conn, "conversation.item.input_audio_transcription.completed")
    kinds = [e["type"] for e in heard]
    assert kinds.index("input_audio_buffer.speech_started") < kinds.index(
        "input_audio_buffer.speech_stopped"
    )
    assert heard[-1]["transcript"] == HARBOR.exchanges[0].callee.text
    await conn.response.create()
    answer = await events_until(conn, "response.done")
    said = [e for e in answer if e["type"] == "response.output_audio_transcript.done"]
    assert said[0]["transcript"].startswith("Hello Maya")
    audio = [e for e in answer if e["type"] == "response.output_audio.delta"]
    played = sum(len(base64.b64decode(e["delta"])) for e in audio)
    assert played == voice.speech_ms(said[0]["transcript"]) * 8  # μ-law, 8 bytes/ms


async def test_a_realtime_session_calls_tools_and_leaves_the_voicemail_message(
    conn: Any,
) -> None:
    await brief(conn, OAK_STREET)
    await speak(conn, OAK_STREET.exchanges[0].callee.text)
    await events_until(conn, "input_audio_buffer.speech_stopped")
    await conn.response.create()
    done = (await events_until(conn, "response.done"))[-1]
    [call] = done["response"]["output"]
    assert (call["type"], call["name"]) == ("function_call", "report_voicemail")
    await conn.response.create(response={"instructions": message_instructions("Hi, Ann here.")})
    message = await events_until(conn, "response.done")
    said = [
        e["transcript"] for e in message if e["type"] == "response.output_audio_transcript.done"
    ]
    assert said == ["Hi, Ann here."]
