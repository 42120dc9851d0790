"""API tokens get scopes and an expiry; WebSocket tickets become a kind of access token.

Tokens made before had every right and no end. They keep read, calls and account (making
tokens and changing the phone number now need a browser session whatever the token
holds) and expire 90 days after this migration.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 01:00:00
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

CHECK = "ck_access_tokens_token_kind"
OLD_KINDS = "kind IN ('session', 'api')"
NEW_KINDS = "kind IN ('session', 'api', 'ws_ticket')"
tokens = sa.table(
    "access_tokens",
    sa.column("kind", sa.String),
    sa.column("scopes", sa.String),
    sa.column("expires_at", sa.DateTime(timezone=True)),
)


def _kinds(allowed: str) -> None:
    # recreate on SQLite (no ALTER of a CHECK there); plain ALTERs on PostgreSQL
    with op.batch_alter_table("access_tokens", recreate="auto") as batch:
        batch.drop_constraint(op.f(CHECK), type_="check")
        batch.create_check_constraint(op.f(CHECK), allowed)


def upgrade() -> None:
    op.add_column(
        "access_tokens",
        sa.Column("scopes", sa.String(length=100), nullable=False, server_default=""),
    )
    _kinds(NEW_KINDS)
    ends = datetime.now(UTC) + timedelta(days=90)
    if op.get_bind().dialect.name == "sqlite":
        ends = ends.replace(tzinfo=None)  # stored as UTC without offset (database/types.py)
    op.execute(tokens.update().where(tokens.c.kind == "api").values(scopes="read calls account"))
    op.execute(
        tokens.update()
        .where(tokens.c.kind == "api", tokens.c.expires_at.is_(None))
        .values(expires_at=ends)
    )


def downgrade() -> None:
    op.execute(tokens.delete().where(tokens.c.kind == "ws_ticket"))
    _kinds(OLD_KINDS)
    with op.batch_alter_table("access_tokens") as batch:
        batch.drop_column("scopes")
