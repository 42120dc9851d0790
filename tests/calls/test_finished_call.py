"""FinishedCall: the one reading of a closed calls row, and who ended a call."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from audio_processing.call_audio import EndReason
from audio_processing.talker_result import TalkerEnd, TalkerResult
from call_processor.call_records import CallRecorder
from call_processor.finished_call import EndedBy, FinishedCall, outcome_label
from common.call_outcomes import AgentOutcome
from database.engine import create_engine_for, session_factory
from database.migrate import upgrade
from database.repositories import calls, users
from database.states import CallStatus

CALL_ID = "3f1c6a52-8a7e-4f0e-9d59-2b8f4f0b7c01"


@pytest.fixture
async def recorder(tmp_path: Path) -> AsyncIterator[CallRecorder]:
    await upgrade(None, tmp_path)
    engine = create_engine_for(None, tmp_path)
    sessions: async_sessionmaker[AsyncSession] = session_factory(engine)
    async with sessions() as s, s.begin():
        user = await users.create(s, email="row@example.com", password_hash="x")
    made = CallRecorder(sessions, user.id, CALL_ID)
    await made.create(phone_number="+15550009", task_id=None, attempt_number=1, node_id="t")
    yield made
    await engine.dispose()


async def test_a_closed_row_reads_back_as_every_fact_it_holds(recorder: CallRecorder) -> None:
    async with recorder.sessions() as s, s.begin():  # what the tool host wrote during the call
        await calls.update(s, user_id=recorder.user_id, call_id=CALL_ID, facts={"price": "42"})
    row = await recorder.close(
        within=0.0, status=CallStatus.COMPLETED, outcome="voicemail", end_reason="talker_finished",
        ended_by="agent", duration_seconds=12.5, hangup_cause=16,
        hangup_cause_text="Normal Clearing", amd_status="MACHINE", agent_outcome="voicemail",
        summary="Left a message.", latency_ms=[412.5, 380.0], agent_audio_generated_ms=5200,
        agent_audio_played_ms=4100,
    )  # fmt: skip
    assert row is not None
    async with recorder.sessions() as s:
        stored = await calls.get(s, user_id=recorder.user_id, call_id=CALL_ID)
    assert stored is not None
    finished = FinishedCall.from_row(stored)
    assert finished == FinishedCall.from_row(row)  # the row as written is the row stored
    assert finished == FinishedCall(
        call_id=CALL_ID, status=CallStatus.COMPLETED, outcome="voicemail",
        end_reason="talker_finished", ended_by=EndedBy.AGENT, answered=False,
        duration_seconds=12.5, hangup_cause=16, hangup_cause_text="Normal Clearing",
        amd_status="MACHINE", transferred=False, agent_outcome=AgentOutcome.VOICEMAIL,
        summary="Left a message.", facts={"price": "42"}, latency_ms=(412.5, 380.0),
        agent_audio_generated_ms=5200, agent_audio_played_ms=4100,
    )  # fmt: skip


async def test_a_live_row_has_no_outcome_yet(recorder: CallRecorder) -> None:
    async with recorder.sessions() as s:
        live = await calls.get(s, user_id=recorder.user_id, call_id=CALL_ID)
    assert live is not None
    with pytest.raises(ValueError, match="still dialing"):
        FinishedCall.from_row(live)


async def test_a_row_closed_before_the_ending_columns_still_reads_right(
    recorder: CallRecorder,
) -> None:
    """Before revision 0006 the outcome column said both: transferred, or the agent's word."""
    for label, transferred, agent in (
        ("transferred", True, None),
        ("success", False, AgentOutcome.SUCCESS),
    ):
        row = await recorder.close(within=0.0, status=CallStatus.COMPLETED, outcome=label)
        assert row is not None
        finished = FinishedCall.from_row(row)
        assert (finished.transferred, finished.agent_outcome, finished.ended_by) == (
            transferred, agent, None,
        )  # fmt: skip


def test_a_call_without_a_row_was_ended_by_us() -> None:
    finished = FinishedCall.without_row(None, CallStatus.FAILED, "not_placed")
    assert (finished.call_id, finished.outcome, finished.ended_by) == (
        None, "failed", EndedBy.PLATFORM,
    )  # fmt: skip
    assert not finished.answered


@pytest.mark.parametrize(
    ("end_reason", "talker", "ended_by"),
    [
        (EndReason.FAR_END_HANGUP, None, EndedBy.FAR_END),
        (EndReason.FAR_END_HANGUP, TalkerResult(TalkerEnd.CALLER_HANGUP), EndedBy.FAR_END),
        (EndReason.TALKER_FINISHED, TalkerResult(TalkerEnd.END_CALL), EndedBy.AGENT),
        (EndReason.LOCAL_HANGUP, TalkerResult(TalkerEnd.END_CALL), EndedBy.AGENT),
        (EndReason.LOCAL_HANGUP, None, EndedBy.AGENT),  # a talker with no result hung up
        (EndReason.LOCAL_HANGUP, TalkerResult(TalkerEnd.MODEL_STALLED), EndedBy.PLATFORM),
        ("hangup_command", TalkerResult(TalkerEnd.CALLER_HANGUP), EndedBy.PLATFORM),
        ("shutdown", None, EndedBy.PLATFORM),
        (EndReason.STALLED, None, EndedBy.PLATFORM),
        ("originate_refused", None, EndedBy.PLATFORM),
    ],
)
def test_who_ended_the_call_follows_the_end_reason(
    end_reason: str, talker: TalkerResult | None, ended_by: EndedBy
) -> None:
    assert EndedBy.of(end_reason, talker) is ended_by


def test_the_outcome_label_prefers_transfer_then_the_agents_word() -> None:
    said = TalkerResult(TalkerEnd.END_CALL, AgentOutcome.NEEDS_USER)
    assert outcome_label(CallStatus.COMPLETED, True, said) == "transferred"
    assert outcome_label(CallStatus.COMPLETED, False, said) == "needs_user"
    assert outcome_label(CallStatus.COMPLETED, False, None) == "completed"
    assert outcome_label(CallStatus.AI_FAILURE, False, said) == "ai_failure"
    assert outcome_label(CallStatus.BUSY, False, None) == "busy"
