"""A partial index of paused campaigns, so the scheduler's claim passes over their tasks
by probing a few rows instead of scanning every campaign.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

PAUSED = "status = 'paused'"


def upgrade() -> None:
    op.create_index(
        "ix_campaigns_paused",
        "campaigns",
        ["id"],
        postgresql_where=sa.text(PAUSED),
        sqlite_where=sa.text(PAUSED),
    )


def downgrade() -> None:
    op.drop_index("ix_campaigns_paused", table_name="campaigns")
