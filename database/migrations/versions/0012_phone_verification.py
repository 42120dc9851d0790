"""The person's own number is verified before it is used: users.phone_verified_at, and the
outstanding code (hashed) per person.

Numbers stored before are not verified: transfers and texts to them wait until the person
confirms a code sent to the number.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-09 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", recreate="never") as batch:
        batch.add_column(sa.Column("phone_verified_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "phone_codes",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("phone_number", sa.String(length=20), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failed_tries", sa.Integer(), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_in_window", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_phone_codes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_phone_codes")),
    )


def downgrade() -> None:
    op.drop_table("phone_codes")
    # Never recreate `users` on SQLite: with foreign keys on, dropping the old table would
    # cascade to every row that belongs to a user. SQLite (3.35+) drops a plain column.
    with op.batch_alter_table("users", recreate="never") as batch:
        batch.drop_column("phone_verified_at")
