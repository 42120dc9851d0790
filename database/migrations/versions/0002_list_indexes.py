"""Indexes for the two lists people open most: their recent calls and their open questions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 03:10:00
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_calls_user_id_started_at", "calls", ["user_id", "started_at"], unique=False)
    op.create_index(
        "ix_feedback_requests_user_id_status",
        "feedback_requests",
        ["user_id", "status"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_feedback_requests_user_id_status", table_name="feedback_requests")
    op.drop_index("ix_calls_user_id_started_at", table_name="calls")
