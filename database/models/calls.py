"""One row per call attempt, plus its turns (utterances) and events (what happened, when)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from database.models.base import Base
from database.states import CallDirection, CallStatus, Speaker
from database.types import UtcDateTime, state_enum, utcnow


class Call(Base):
    __tablename__ = "calls"
    __table_args__ = (
        Index("ix_calls_user_id_started_at", "user_id", "started_at"),
        # An inbound call-back looks up the latest call to the caller's number.
        Index("ix_calls_phone_number_started_at", "phone_number", "started_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the call_id UUID
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    task_id: Mapped[int | None] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), index=True
    )
    attempt_number: Mapped[int] = mapped_column(Integer, default=1)
    phone_number: Mapped[str] = mapped_column(String(20))  # theirs, whoever dialled
    direction: Mapped[CallDirection] = mapped_column(
        state_enum(CallDirection, "call_direction"),
        default=CallDirection.OUTBOUND,
        server_default=CallDirection.OUTBOUND.value,
    )
    status: Mapped[CallStatus] = mapped_column(
        state_enum(CallStatus, "call_status"), default=CallStatus.DIALING
    )
    node_id: Mapped[str | None] = mapped_column(String(200))
    channel: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    hangup_cause: Mapped[int | None] = mapped_column(Integer)
    hangup_cause_text: Mapped[str | None] = mapped_column(String(200))
    outcome: Mapped[str | None] = mapped_column(String(64))  # a one-word label for people
    end_reason: Mapped[str | None] = mapped_column(String(64))  # far_end_hangup, end_call...
    ended_by: Mapped[str | None] = mapped_column(String(16))  # far_end | agent | platform
    agent_outcome: Mapped[str | None] = mapped_column(String(32))  # end_call's verdict
    transferred: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    amd_status: Mapped[str | None] = mapped_column(String(32))  # HUMAN | MACHINE | NOTSURE
    facts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The callee asked to be called back then (their words are in facts["callback_requested"]).
    callback_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    latency_ms: Mapped[list[Any]] = mapped_column(JSON, default=list)
    summary: Mapped[str | None] = mapped_column(Text)
    agent_audio_generated_ms: Mapped[int | None] = mapped_column(Integer)
    agent_audio_played_ms: Mapped[int | None] = mapped_column(Integer)
    answered_by: Mapped[str | None] = mapped_column(String(16))  # person | machine
    message_left: Mapped[bool | None] = mapped_column(Boolean)  # a machine: message played
    hold_seconds: Mapped[float | None] = mapped_column(Float)  # time spent on hold
    # Both sides as Asterisk heard them: a WAV under DATA_DIR/recordings (call_processor/
    # recordings.py), relative to that folder; None when not recorded or deleted.
    recording_path: Mapped[str | None] = mapped_column(String(300))
    recording_seconds: Mapped[float | None] = mapped_column(Float)


class CallTurn(Base):
    __tablename__ = "call_turns"
    __table_args__ = (UniqueConstraint("call_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    speaker: Mapped[Speaker] = mapped_column(state_enum(Speaker, "speaker"))
    text: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    cut_at_ms: Mapped[int | None] = mapped_column(Integer)  # agent cut off: ms heard


class CallEvent(Base):
    __tablename__ = "call_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


# Recorded calls by end time, for the retention job (call_processor/recordings.py).
RECORDED_CALLS_INDEX = Index(
    "ix_calls_recorded_ended_at",
    Call.ended_at,
    postgresql_where=text("recording_path IS NOT NULL"),
    sqlite_where=text("recording_path IS NOT NULL"),
)
