"""A campaign's language (the callees'), and the time a callee asked to be called back.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(
            sa.Column("language", sa.String(length=40), server_default="", nullable=False)
        )
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("callback_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("callback_at")
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("language")
