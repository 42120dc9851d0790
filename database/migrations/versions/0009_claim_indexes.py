"""Partial indexes for the scheduler's claim: due tasks in claim order, lapsed leases.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

DUE = "status IN ('pending', 'retry_scheduled')"
SCHEDULED = "status = 'scheduled'"


def upgrade() -> None:
    op.create_index(
        "ix_tasks_claim_order",
        "tasks",
        ["priority", sa.text("next_action_time DESC"), sa.text("id DESC")],
        postgresql_where=sa.text(DUE),
        sqlite_where=sa.text(DUE),
    )
    op.create_index(
        "ix_tasks_scheduled_lease",
        "tasks",
        ["lease_expires_at"],
        postgresql_where=sa.text(SCHEDULED),
        sqlite_where=sa.text(SCHEDULED),
    )


def downgrade() -> None:
    op.drop_index("ix_tasks_scheduled_lease", table_name="tasks")
    op.drop_index("ix_tasks_claim_order", table_name="tasks")
