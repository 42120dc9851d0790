"""Indexes that leave SQLite's planner no wrong choice for the claim (issue 16).

ix_tasks_due (status, next_action_time, priority) is dropped: since 0009 the claim reads
ix_tasks_claim_order, but on SQLite, which keeps no statistics, the planner took
ix_tasks_due for the claim's "status IN (...)" and then sorted every waiting task (the
probe for the waiting priorities: 246 ms at 100,000 waiting). Its other readers, the
lifecycle sweeps and the per-user cap, get partial indexes of the few rows they read.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 04:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

PARTIAL = (
    ("ix_tasks_in_progress", ["lease_expires_at"], "status = 'in_progress'"),
    ("ix_tasks_needs_user", ["user_id"], "status = 'needs_user'"),
    ("ix_tasks_live_per_user", ["user_id"], "status IN ('scheduled', 'in_progress')"),
)


def upgrade() -> None:
    op.drop_index("ix_tasks_due", table_name="tasks")
    for name, columns, where in PARTIAL:
        op.create_index(
            name, "tasks", columns, postgresql_where=sa.text(where), sqlite_where=sa.text(where)
        )


def downgrade() -> None:
    for name, _, _ in reversed(PARTIAL):
        op.drop_index(name, table_name="tasks")
    op.create_index("ix_tasks_due", "tasks", ["status", "next_action_time", "priority"])
