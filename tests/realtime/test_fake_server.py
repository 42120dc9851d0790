"""The fake server is strict where the real GA service is: the tests of the bridge rely on it."""

from __future__ import annotations

import json

import pytest
from openai import AsyncOpenAI
from websockets.exceptions import ConnectionClosed

from audio_processing.realtime.events import ErrorEvent, SessionUpdated, parse_server_event
from tests.realtime.conftest import session_for
from tests.support.fake_realtime import BETA_CLOSE_CODE, POLICY_CLOSE_CODE, FakeRealtimeServer


async def _error_then_close(conn: object) -> tuple[ErrorEvent, int | None]:
    events = []
    try:
        while True:
            events.append(parse_server_event(await conn.recv_bytes()))  # type: ignore[attr-defined]
    except ConnectionClosed as exc:
        closed = exc
    errors = [e for e in events if isinstance(e, ErrorEvent)]
    assert len(errors) == 1
    assert closed.rcvd is not None
    return errors[0], closed.rcvd.code


async def test_beta_header_is_rejected_with_4000(client: AsyncOpenAI) -> None:
    conn = await client.realtime.connect(
        model="gpt-realtime", extra_headers={"OpenAI-Beta": "realtime=v1"}
    ).enter()
    error, code = await _error_then_close(conn)
    assert error.code == "beta_api_shape_disabled"
    assert code == BETA_CLOSE_CODE


async def test_unknown_client_event_is_rejected(
    client: AsyncOpenAI, fake: FakeRealtimeServer
) -> None:
    conn = await client.realtime.connect(model="gpt-realtime").enter()
    await conn.send_raw(json.dumps({"type": "transcription_session.update", "session": {}}))
    error, code = await _error_then_close(conn)
    assert error.code == "unknown_event_type"
    assert code == POLICY_CLOSE_CODE


@pytest.mark.parametrize(
    "session",
    [
        {"modalities": ["audio"], "voice": "marin"},  # beta, flat, no type
        {"type": "transcription"},
        {"type": "realtime", "input_audio_format": "g711_ulaw"},  # GA type, beta field
    ],
)
async def test_session_update_must_be_the_ga_shape(client: AsyncOpenAI, session: dict) -> None:
    conn = await client.realtime.connect(model="gpt-realtime").enter()
    await conn.send_raw(json.dumps({"type": "session.update", "session": session}))
    error, code = await _error_then_close(conn)
    assert error.code in {"missing_required_parameter", "unknown_parameter"}
    assert code == POLICY_CLOSE_CODE


async def test_malformed_event_is_rejected(client: AsyncOpenAI) -> None:
    conn = await client.realtime.connect(model="gpt-realtime").enter()
    await conn.send_raw("{not json")
    error, code = await _error_then_close(conn)
    assert error.code == "invalid_json"
    assert code == POLICY_CLOSE_CODE


async def test_ga_session_update_is_answered_and_recorded(
    client: AsyncOpenAI, fake: FakeRealtimeServer
) -> None:
    session = session_for(client)
    await session.open()
    try:
        assert fake.session.path.startswith("/v1/realtime?model=gpt-realtime")
        assert fake.session.headers["Authorization"] == "Bearer test-key"
        [update] = fake.received("session.update")
        assert update.event["session"] == session.config
    finally:
        await session.aclose()


async def test_truncate_past_the_audio_sent_is_an_error(
    client: AsyncOpenAI, fake: FakeRealtimeServer
) -> None:
    from tests.realtime.conftest import ulaw_tone
    from tests.support.fake_realtime import Response, Say, Script

    fake.script = Script([Response([Say(ulaw_tone(200), "hi")])])
    session = session_for(client)
    conn = await session.open()
    try:
        await conn.response.create()
        item_id = None
        while True:
            raw = json.loads(await conn.recv_bytes())
            item_id = item_id or raw.get("item_id")
            if raw["type"] == "response.done":
                break
        await conn.conversation.item.truncate(item_id=item_id, content_index=0, audio_end_ms=201)
        assert isinstance(parse_server_event(await conn.recv_bytes()), ErrorEvent)
        await conn.conversation.item.truncate(item_id=item_id, content_index=0, audio_end_ms=200)
        truncated = json.loads(await conn.recv_bytes())
        assert truncated["type"] == "conversation.item.truncated"
        assert truncated["audio_end_ms"] == 200
        assert not isinstance(
            parse_server_event(json.dumps({"type": "session.updated", "session": {}})), ErrorEvent
        )
        assert isinstance(
            parse_server_event(json.dumps({"type": "session.updated", "session": {}})),
            SessionUpdated,
        )
    finally:
        await session.aclose()
