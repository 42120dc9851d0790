"""Recordings: each campaign says whether its calls are recorded (off, announce, on); each
call keeps its recording's file (relative to DATA_DIR/recordings) and length.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

RECORDED = "recording_path IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(
            sa.Column("recording", sa.String(length=16), server_default="off", nullable=False)
        )
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("recording_path", sa.String(length=300), nullable=True))
        batch.add_column(sa.Column("recording_seconds", sa.Float(), nullable=True))
    # The retention job's question: which recordings ended before the cut-off.
    op.create_index(
        "ix_calls_recorded_ended_at",
        "calls",
        ["ended_at"],
        postgresql_where=sa.text(RECORDED),
        sqlite_where=sa.text(RECORDED),
    )


def downgrade() -> None:
    op.drop_index("ix_calls_recorded_ended_at", table_name="calls")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("recording_seconds")
        batch.drop_column("recording_path")
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("recording")
