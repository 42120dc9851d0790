"""Migrations: empty → head → one step down → head; idempotent, concurrent, equal to models."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import JSON, MetaData, Table, column, inspect, select, table
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from database import migrate
from database.engine import create_engine_for
from database.models import Base
from tests.database.conftest import Backend

SECOND_STEP_INDEXES = {"ix_calls_user_id_started_at", "ix_feedback_requests_user_id_status"}


async def _schema(backend: Backend) -> tuple[set[str], set[str], list[object]]:
    """Tables, the indexes added by revision 0002, and the autogenerate diff against the models."""
    engine = create_engine_for(backend.url, backend.data_dir)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_inspect)
    finally:
        await engine.dispose()


def _inspect(conn: Connection) -> tuple[set[str], set[str], list[object]]:
    inspector = inspect(conn)
    tables = set(inspector.get_table_names())
    indexes = {
        index["name"]
        for table in ("calls", "feedback_requests")
        if table in tables
        for index in inspector.get_indexes(table)
    }
    diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    return tables, indexes & SECOND_STEP_INDEXES, diff


async def test_upgrade_downgrade_one_step_upgrade(empty_backend: Backend) -> None:
    url, data_dir = empty_backend.url, empty_backend.data_dir
    head = migrate.head_revision()
    assert await migrate.current(url, data_dir) is None

    await migrate.upgrade(url, data_dir)
    assert await migrate.current(url, data_dir) == head
    _, indexes, _ = await _schema(empty_backend)
    assert indexes == SECOND_STEP_INDEXES

    await migrate.downgrade(url, data_dir, "0001")  # below the index step, whatever the head
    assert await migrate.current(url, data_dir) == "0001"
    tables, indexes, _ = await _schema(empty_backend)
    assert indexes == set()
    assert {"tasks", "calls", "feedback_requests"} <= tables

    await migrate.upgrade(url, data_dir)
    await migrate.upgrade(url, data_dir)  # already at head: a no-op, not an error
    assert await migrate.current(url, data_dir) == head
    _, indexes, diff = await _schema(empty_backend)
    assert indexes == SECOND_STEP_INDEXES
    assert diff == []


async def test_migrated_schema_matches_models(empty_backend: Backend) -> None:
    await migrate.upgrade(empty_backend.url, empty_backend.data_dir)
    tables, _, diff = await _schema(empty_backend)
    assert diff == []
    assert tables == set(Base.metadata.tables) | {"alembic_version"}


async def test_downgrade_to_base_removes_every_table(empty_backend: Backend) -> None:
    await migrate.upgrade(empty_backend.url, empty_backend.data_dir)
    await migrate.downgrade(empty_backend.url, empty_backend.data_dir, "base")
    tables, _, _ = await _schema(empty_backend)
    assert tables <= {"alembic_version"}
    assert await migrate.current(empty_backend.url, empty_backend.data_dir) is None


async def test_concurrent_upgrades_from_several_processes_both_succeed(
    empty_backend: Backend,
) -> None:
    # Separate engines stand in for separate processes starting at once.
    runs = [migrate.upgrade(empty_backend.url, empty_backend.data_dir) for _ in range(3)]
    await asyncio.wait_for(asyncio.gather(*runs), timeout=60)
    assert (
        await migrate.current(empty_backend.url, empty_backend.data_dir) == migrate.head_revision()
    )
    _, _, diff = await _schema(empty_backend)
    assert diff == []


async def test_profile_rows_keep_only_the_keys_the_profile_owns(empty_backend: Backend) -> None:
    """0005: old `standing_facts` entries move into `facts`; unknown keys go."""
    url, data_dir = empty_backend.url, empty_backend.data_dir
    await migrate.upgrade(url, data_dir, "0004")
    old = {
        "standing_facts": ["insurer: Acme", "vegetarian"],
        "facts": {"date of birth": "1990-02-03"},
        "never_share": ["salary"],
        "notifications_seen_at": "2026-12-01T10:00:00+00:00",
        "something_else": 1,
    }
    engine = create_engine_for(url, data_dir)
    users = table("users", column("id"), column("email"), column("password_hash"),
                  column("display_name"), column("time_zone"), column("profile", JSON),
                  column("created_at"))  # fmt: skip
    try:
        async with engine.begin() as conn:
            await conn.execute(users.insert().values(
                id=1, email="old@example.com", password_hash="x", display_name="", time_zone="UTC",
                profile=old, created_at=datetime(2026, 1, 1),
            ))  # fmt: skip
        await migrate.upgrade(url, data_dir)
        async with engine.connect() as conn:
            stored = (await conn.execute(select(users.c.profile))).scalar_one()
    finally:
        await engine.dispose()
    assert stored == {
        "facts": {"date of birth": "1990-02-03", "insurer": "Acme", "note 2": "vegetarian"},
        "never_share": ["salary"],
        "notifications_seen_at": "2026-12-01T10:00:00+00:00",
    }


ENDING_COLUMNS = {
    "end_reason", "ended_by", "agent_outcome", "transferred", "agent_audio_generated_ms",
    "agent_audio_played_ms",
}  # fmt: skip


def _insert_closed_call(conn: Connection) -> None:
    """A user and a call finished before revision 0006, written through the live schema."""
    tables = MetaData()
    users, calls = (Table(name, tables, autoload_with=conn) for name in ("users", "calls"))
    now = datetime.now(UTC)
    conn.execute(users.insert().values(
        id=1, email="old@example.org", password_hash="x", display_name="old", time_zone="UTC",
        profile={}, created_at=now,
    ))  # fmt: skip
    conn.execute(calls.insert().values(
        id="00000000-0000-4000-8000-000000000005", user_id=1, attempt_number=1,
        phone_number="+15550005", status="completed", started_at=now, ended_at=now,
        outcome="success", facts={}, latency_ms=[],
    ))  # fmt: skip


def _call_and_columns(conn: Connection) -> tuple[dict[str, Any], set[str]]:
    calls = Table("calls", MetaData(), autoload_with=conn)
    row = conn.execute(select(calls)).mappings().one()
    return dict(row), {c["name"] for c in inspect(conn).get_columns("calls")}


async def _on(backend: Backend, work: Any) -> Any:
    engine = create_engine_for(backend.url, backend.data_dir)
    try:
        async with engine.begin() as conn:
            return await conn.run_sync(work)
    finally:
        await engine.dispose()


async def test_call_ending_columns_arrive_empty_on_old_rows_and_leave_on_downgrade(
    empty_backend: Backend,
) -> None:
    url, data_dir = empty_backend.url, empty_backend.data_dir
    await migrate.upgrade(url, data_dir, "0005")
    await _on(empty_backend, _insert_closed_call)

    await migrate.upgrade(url, data_dir, "0006")
    row, columns = await _on(empty_backend, _call_and_columns)
    assert columns >= ENDING_COLUMNS
    assert row["transferred"] in (False, 0)  # the server default fills rows already there
    assert {k: row[k] for k in ENDING_COLUMNS - {"transferred"}} == dict.fromkeys(
        ENDING_COLUMNS - {"transferred"}
    )
    assert (row["status"], row["outcome"]) == ("completed", "success")

    await migrate.downgrade(url, data_dir, "0005")
    row, columns = await _on(empty_backend, _call_and_columns)
    assert not columns & ENDING_COLUMNS
    assert (row["status"], row["outcome"]) == ("completed", "success")


async def test_old_api_tokens_get_scopes_and_an_end_and_tickets_fit_the_kind_check(
    empty_backend: Backend,
) -> None:
    """0008: tokens made before keep read/calls/account and expire in 90 days; sessions keep
    no scopes; the kind check takes ws_ticket and still refuses anything else."""
    url, data_dir = empty_backend.url, empty_backend.data_dir
    await migrate.upgrade(url, data_dir, "0007")
    users = table("users", column("id"), column("email"), column("password_hash"),
                  column("display_name"), column("time_zone"), column("profile", JSON),
                  column("created_at"))  # fmt: skip
    tokens = table("access_tokens", column("id"), column("user_id"), column("kind"),
                   column("name"), column("token_hash"), column("created_at"),
                   column("expires_at"), column("scopes"))  # fmt: skip
    created = datetime(2026, 1, 1)
    engine = create_engine_for(url, data_dir)
    try:
        async with engine.begin() as conn:
            await conn.execute(users.insert().values(
                id=1, email="old@example.com", password_hash="x", display_name="",
                time_zone="UTC", profile={}, created_at=created,
            ))  # fmt: skip
            for id_, kind in [(1, "api"), (2, "session")]:
                await conn.execute(tokens.insert().values(
                    id=id_, user_id=1, kind=kind, name="", token_hash=str(id_) * 64,
                    created_at=created,
                ))  # fmt: skip
        await migrate.upgrade(url, data_dir)
        async with engine.connect() as conn:
            query = select(tokens.c.id, tokens.c.scopes, tokens.c.expires_at)
            rows = (await conn.execute(query.order_by(tokens.c.id))).all()
        async with engine.begin() as conn:
            await conn.execute(tokens.insert().values(
                id=3, user_id=1, kind="ws_ticket", name="", token_hash="3" * 64,
                created_at=created, scopes="",
            ))  # fmt: skip
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(tokens.insert().values(
                    id=4, user_id=1, kind="bogus", name="", token_hash="4" * 64,
                    created_at=created, scopes="",
                ))  # fmt: skip
        await migrate.downgrade(url, data_dir, "0007")
        async with engine.connect() as conn:
            left = (await conn.execute(select(column("id")).select_from(
                table("access_tokens")))).scalars().all()  # fmt: skip
    finally:
        await engine.dispose()
    (api_id, api_scopes, api_end), (session_id, session_scopes, session_end) = rows
    assert (api_id, api_scopes, session_id, session_scopes) == (1, "read calls account", 2, "")
    assert api_end is not None
    assert session_end is None
    assert sorted(left) == [1, 2]  # the ticket went with the downgrade


async def test_call_direction_arrives_outbound_on_old_rows_and_leaves_on_downgrade(
    empty_backend: Backend,
) -> None:
    """0010: every call before it was placed by us."""
    url, data_dir = empty_backend.url, empty_backend.data_dir
    await migrate.upgrade(url, data_dir, "0009")
    await _on(empty_backend, _insert_closed_call)

    await migrate.upgrade(url, data_dir, "0010")
    row, columns = await _on(empty_backend, _call_and_columns)
    assert row["direction"] == "outbound"
    indexes = await _on(
        empty_backend, lambda c: {i["name"] for i in inspect(c).get_indexes("calls")}
    )
    assert "ix_calls_phone_number_started_at" in indexes

    await migrate.downgrade(url, data_dir, "0009")
    row, columns = await _on(empty_backend, _call_and_columns)
    assert "direction" not in columns
    assert (row["status"], row["outcome"]) == ("completed", "success")


T0 = datetime(2026, 1, 1, tzinfo=UTC)
CHILD_ROWS: dict[str, dict[str, Any]] = {  # one of each at revision 0005, parents first
    "users": {"id": 1, "email": "k@example.com", "password_hash": "x", "display_name": "",
              "time_zone": "UTC", "profile": {}, "created_at": T0},
    "campaigns": {"id": 1, "user_id": 1, "name": "c", "goal": "", "status": "active",
                  "created_at": T0},
    "tasks": {"id": 1, "user_id": 1, "campaign_id": 1, "contact_name": "", "objective": "o",
              "phone_number": "+14155550100", "context": "", "success_criteria": "",
              "status": "succeeded", "attempt_count": 1, "max_attempts": 3, "priority": 5,
              "inter_call_context": {}, "version": 1, "created_at": T0, "updated_at": T0},
    "calls": {"id": "c1", "user_id": 1, "task_id": 1, "attempt_number": 1,
              "phone_number": "+14155550100", "status": "completed", "started_at": T0,
              "facts": {}, "latency_ms": []},
    "call_events": {"id": 1, "call_id": "c1", "user_id": 1, "kind": "answered", "data": {},
                    "at": T0},
    "call_turns": {"id": 1, "call_id": "c1", "user_id": 1, "seq": 1, "speaker": "agent",
                   "text": "hi", "started_at": T0},
    "feedback_requests": {"id": 1, "user_id": 1, "call_id": "c1", "task_id": 1,
                          "question": "q", "context": "", "status": "answered",
                          "created_at": T0},
    "access_tokens": {"id": 1, "user_id": 1, "kind": "api", "name": "t",
                      "token_hash": "2" * 64, "created_at": T0},
    "conversations": {"id": 1, "user_id": 1, "campaign_id": 1, "title": "t", "messages": [],
                      "created_at": T0, "updated_at": T0},
    "dnd_list": {"id": 1, "user_id": 1, "phone_number": "+14155550100", "reason": "asked",
                 "created_at": T0},
    "messages": {"id": 1, "user_id": 1, "channel": "email", "to_address": "k@example.com",
                 "body": "b", "status": "sent", "created_at": T0},
}  # fmt: skip


def _typed(name: str, value: object) -> Any:
    return column(name, JSON) if isinstance(value, dict | list) else column(name)


async def test_every_row_survives_upgrade_to_head_and_downgrade_back(
    empty_backend: Backend,
) -> None:
    """SQLite rebuilds a table to alter it (Alembic batch mode); with foreign keys on, the
    rebuild's DROP TABLE deletes every row that references the table (ON DELETE CASCADE):
    a downgrade or upgrade that rebuilt `calls` emptied call_events, call_turns and
    feedback_requests. Migrations run with foreign keys off and checked after."""
    url, data_dir = empty_backend.url, empty_backend.data_dir
    await migrate.upgrade(url, data_dir, "0005")

    def seed(conn: Connection) -> None:
        for name, row in CHILD_ROWS.items():
            columns = [_typed(key, value) for key, value in row.items()]
            conn.execute(table(name, *columns).insert().values(row))

    def counts(conn: Connection) -> dict[str, int]:
        return {
            name: len(conn.execute(select(column("id")).select_from(table(name))).all())
            for name in CHILD_ROWS
        }

    await _on(empty_backend, seed)
    before = await _on(empty_backend, counts)
    assert set(before.values()) == {1}
    await migrate.upgrade(url, data_dir)
    assert await _on(empty_backend, counts) == before
    await migrate.downgrade(url, data_dir, "0005")
    assert await _on(empty_backend, counts) == before
