"""Do-not-call entries, questions the agent asks the person mid-call, and outgoing messages."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from database.models.base import Base
from database.states import FeedbackStatus, MessageChannel, MessageStatus
from database.types import UtcDateTime, state_enum, utcnow


class DndEntry(Base):
    """user_id None = the operator's global list, which blocks the number for everyone."""

    __tablename__ = "dnd_list"
    __table_args__ = (UniqueConstraint("user_id", "phone_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    phone_number: Mapped[str] = mapped_column(String(20), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class FeedbackRequest(Base):
    __tablename__ = "feedback_requests"
    __table_args__ = (Index("ix_feedback_requests_user_id_status", "user_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    call_id: Mapped[str | None] = mapped_column(
        ForeignKey("calls.id", ondelete="CASCADE"), index=True
    )
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    question: Mapped[str] = mapped_column(Text)
    context: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[FeedbackStatus] = mapped_column(
        state_enum(FeedbackStatus, "feedback_status"), default=FeedbackStatus.OPEN
    )
    answer: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Message(Base):
    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    channel: Mapped[MessageChannel] = mapped_column(state_enum(MessageChannel, "message_channel"))
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    provider_id: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[MessageStatus] = mapped_column(
        state_enum(MessageStatus, "message_status"), default=MessageStatus.PENDING
    )
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
