"""users.profile holds only the keys database/profile.py owns.

Rows written before had `standing_facts` (a list, never read by anything) beside `facts`
(a dict, what the web wrote and the agent read). Their entries move into `facts` ("label:
value" split at the first colon, a bare line kept under "note N"); unknown keys go.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 01:00:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

KEPT = ("facts", "never_share", "calling_window", "notifications_seen_at")
users = sa.table("users", sa.column("id", sa.Integer), sa.column("profile", sa.JSON))


def reshaped(profile: Any) -> dict[str, Any]:
    if not isinstance(profile, dict):
        return {}
    out = {k: profile[k] for k in KEPT if k in profile}
    facts = dict(out.get("facts") or {}) if isinstance(out.get("facts"), dict) else {}
    old = profile.get("standing_facts")
    items = old.items() if isinstance(old, dict) else enumerate(old or [], 1)
    for key, value in items:
        if isinstance(key, int):
            label, sep, text = str(value).partition(":")
            key, value = (label.strip(), text.strip()) if sep else (f"note {key}", str(value))
        facts.setdefault(str(key), str(value))
    if facts:
        out["facts"] = facts
    else:
        out.pop("facts", None)
    return out


def upgrade() -> None:
    conn = op.get_bind()
    for user_id, profile in conn.execute(sa.select(users.c.id, users.c.profile)).all():
        new = reshaped(profile)
        if new != profile:
            conn.execute(users.update().where(users.c.id == user_id).values(profile=new))


def downgrade() -> None:
    """Nothing to put back: the old readers read `facts`, which is kept."""
