"""Answering machines and hold: who answered a call, whether a message was left, how long
it was on hold; an agent turn cut off (the milliseconds heard); each campaign's voicemail
policy, whether a left message counts, its hold limit and whether Asterisk's AMD() runs.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

CALL_COLUMNS = ("answered_by", "message_left", "hold_seconds")
CAMPAIGN_COLUMNS = (
    "voicemail_policy",
    "voicemail_message_counts",
    "max_hold_minutes",
    "asterisk_amd",
)


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("answered_by", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("message_left", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("hold_seconds", sa.Float(), nullable=True))
    with op.batch_alter_table("call_turns") as batch:
        batch.add_column(sa.Column("cut_at_ms", sa.Integer(), nullable=True))
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(
            sa.Column(
                "voicemail_policy",
                sa.String(length=24),
                server_default="hang_up_and_retry",
                nullable=False,
            )
        )
        batch.add_column(
            sa.Column(
                "voicemail_message_counts", sa.Boolean(), server_default=sa.false(), nullable=False
            )
        )
        batch.add_column(
            sa.Column("max_hold_minutes", sa.Integer(), server_default="30", nullable=False)
        )
        batch.add_column(
            sa.Column("asterisk_amd", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        for name in reversed(CAMPAIGN_COLUMNS):
            batch.drop_column(name)
    with op.batch_alter_table("call_turns") as batch:
        batch.drop_column("cut_at_ms")
    with op.batch_alter_table("calls") as batch:
        for name in reversed(CALL_COLUMNS):
            batch.drop_column(name)
