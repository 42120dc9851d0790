"""calls.direction: outbound (an attempt we placed) or inbound (a call-back to us); rows
already there were all placed by us. An index on (phone_number, started_at) serves the
call-back's lookup of the latest call to the caller's number.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

DIRECTION = sa.Enum(
    "outbound",
    "inbound",
    name="call_direction",
    native_enum=False,
    create_constraint=True,
    length=32,
)


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(
            sa.Column("direction", DIRECTION, server_default="outbound", nullable=False)
        )
    op.create_index(
        "ix_calls_phone_number_started_at", "calls", ["phone_number", "started_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_calls_phone_number_started_at", table_name="calls")
    with op.batch_alter_table("calls") as batch:
        # Its CHECK first: SQLite's table copy would otherwise keep a check on a lost column.
        batch.drop_constraint(op.f("ck_calls_call_direction"), type_="check")
        batch.drop_column("direction")
