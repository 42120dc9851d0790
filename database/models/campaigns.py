"""Campaigns (a group of tasks with one goal) and tasks (one objective toward one contact)."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, Time, false, text
from sqlalchemy.orm import Mapped, mapped_column

from database.models.base import Base
from database.states import CampaignStatus, TaskStatus
from database.types import UtcDateTime, state_enum, utcnow


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    goal: Mapped[str] = mapped_column(Text, default="")
    stop_after_successes: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[CampaignStatus] = mapped_column(
        state_enum(CampaignStatus, "campaign_status"), default=CampaignStatus.ACTIVE
    )
    # Local time-of-day window in the callee's zone (None = the platform default window).
    window_start: Mapped[time | None] = mapped_column(Time)
    window_end: Mapped[time | None] = mapped_column(Time)
    window_days: Mapped[str | None] = mapped_column(String(32))  # e.g. "mon,tue,wed,thu,fri"
    language: Mapped[str] = mapped_column(String(40), default="", server_default="")
    summary: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # What its calls do with answering machines and hold queues (common/call_policy.py).
    voicemail_policy: Mapped[str] = mapped_column(
        String(24), default="hang_up_and_retry", server_default="hang_up_and_retry"
    )
    voicemail_message_counts: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    max_hold_minutes: Mapped[int] = mapped_column(Integer, default=30, server_default="30")
    asterisk_amd: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    recording: Mapped[str] = mapped_column(String(16), default="off", server_default="off")


class Task(Base):
    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    contact_name: Mapped[str] = mapped_column(String(200), default="")
    phone_number: Mapped[str] = mapped_column(String(20))
    objective: Mapped[str] = mapped_column(Text)
    context: Mapped[str] = mapped_column(Text, default="")
    success_criteria: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[TaskStatus] = mapped_column(
        state_enum(TaskStatus, "task_status"), default=TaskStatus.PENDING
    )
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    next_action_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    inter_call_context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    last_decision: Mapped[str | None] = mapped_column(String(64))
    last_decision_reason: Mapped[str | None] = mapped_column(Text)
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    # Every ORM UPDATE adds "AND version = <loaded>" and bumps it: a lost race raises
    # StaleDataError instead of silently overwriting another process's decision.
    __mapper_args__ = {"version_id_col": version}


def partial_index(name: str, *columns: Any, where: str) -> Index:
    """An index of the rows `where` holds, the same on PostgreSQL and SQLite."""
    return Index(name, *columns, postgresql_where=text(where), sqlite_where=text(where))


# The scheduler's claim (database/repositories/claim_candidates.py): per priority, the due
# tasks in claim order (the longest due first, then id) are one range of this partial
# index scanned backwards, and the priorities waiting are found by probing it, so a claim
# never sorts the waiting set (a million tasks or ten). A task never deferred has no
# next_action_time; its NULL sorts where each database puts NULLs by itself.
CLAIM_ORDER_INDEX = partial_index(
    "ix_tasks_claim_order",
    Task.priority,
    Task.next_action_time.desc(),
    Task.id.desc(),
    where="status IN ('pending', 'retry_scheduled')",
)
# Claimed tasks whose lease lapsed (their process died): found without a scan.
LAPSED_LEASE_INDEX = partial_index(
    "ix_tasks_scheduled_lease",
    Task.lease_expires_at,
    where="status = 'scheduled'",
)
# Paused campaigns, for the claim's "not paused" test: a probe of a few rows, not a scan of
# every campaign on every claim.
PAUSED_CAMPAIGNS_INDEX = partial_index(
    "ix_campaigns_paused",
    Campaign.id,
    where="status = 'paused'",
)
# No index leads with status alone: SQLite keeps no statistics, and one would lure the
# claim's "status IN (...)" away from ix_tasks_claim_order (migration 0018). The few rows
# the lifecycle sweeps and the per-user cap read have partial indexes of their own.
IN_PROGRESS_INDEX = partial_index(
    "ix_tasks_in_progress",
    Task.lease_expires_at,
    where="status = 'in_progress'",
)
NEEDS_USER_INDEX = partial_index(
    "ix_tasks_needs_user",
    Task.user_id,
    where="status = 'needs_user'",
)
LIVE_PER_USER_INDEX = partial_index(
    "ix_tasks_live_per_user",
    Task.user_id,
    where="status IN ('scheduled', 'in_progress')",
)
