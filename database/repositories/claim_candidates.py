"""The claim's first look: which tasks could be claimed now, in claim order, read off
indexes in that order so a claim never scans or sorts the backlog (issue 16).

Claim order: priority high to low, then the longest due first, then id. A task never
deferred has no next_action_time (due since it was made); it sorts where each database
puts NULLs by itself: after the dated ones on PostgreSQL, before them on SQLite.

Why one priority at a time: most waiting tasks are not due yet (a retry's back-off, a
deferral to the callee's window), and "due" is a range of next_action_time *within* a
priority. One scan of ix_tasks_claim_order across priorities would step over every
not-yet-due task of a higher priority before reaching the next priority's due ones (a
million of them at scale). Per priority, the due tasks are one contiguous range of the
index (and the never-scheduled ones another), so each look reads only the rows it
returns. The priorities waiting are found by a loose index scan: one index probe per
distinct priority (at most 101, see tasks.MAX_PRIORITY), however many tasks there are.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Select,
    bindparam,
    exists,
    literal,
    or_,
    select,
    text,
    true,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from database.models import Campaign, Task
from database.states import CampaignStatus, TaskStatus
from database.types import UtcDateTime

CLAIMABLE = (TaskStatus.PENDING, TaskStatus.RETRY_SCHEDULED)
NULLS_FIRST = {"sqlite": True}  # where ORDER BY ... ASC puts NULLs; others: last


@dataclass(frozen=True, slots=True)
class Candidate:
    """A due task as the claim's first look sees it."""

    id: int
    user_id: int
    priority: int


def status_in(*states: TaskStatus) -> ColumnElement[bool]:
    """The task is in one of these states, written into the SQL as values (not bound):
    only then can a partial index on status serve the query (database/models/campaigns.py;
    SQLite matches a partial index's WHERE only by literal terms, and PostgreSQL plans a
    generic prepared statement without knowing the values)."""
    if len(states) == 1:
        return Task.status == literal(states[0].value, literal_execute=True)
    values = [state.value for state in states]
    return Task.status.in_(bindparam("states", values, literal_execute=True, unique=True))


def waiting() -> ColumnElement[bool]:
    """Pending or waiting for a retry: the predicate of ix_tasks_claim_order."""
    return status_in(*CLAIMABLE)


def _instant(now: datetime) -> ColumnElement[datetime]:
    """Bound, unlike the states: the statement's text then stays the same from claim to
    claim, so the driver reuses its prepared statement instead of preparing each look
    anew (an extra round trip per look), and `now` is not part of any index predicate."""
    return bindparam("now", now, type_=UtcDateTime, unique=True)


def due_now(now: datetime) -> ColumnElement[bool]:
    """Waiting and due."""
    due = Task.next_action_time <= _instant(now)
    return waiting() & or_(Task.next_action_time.is_(None), due)


def lapsed_lease(now: datetime) -> ColumnElement[bool]:
    """Claimed by a process that stopped renewing its lease (ix_tasks_scheduled_lease)."""
    return status_in(TaskStatus.SCHEDULED) & (Task.lease_expires_at < _instant(now))


def paused_campaign() -> ColumnElement[bool]:
    """The task's campaign is paused: its due tasks wait, due, until it is resumed.
    A probe of ix_campaigns_paused (a few rows) per task looked at."""
    paused = literal(CampaignStatus.PAUSED.value, literal_execute=True)
    return exists().where(Campaign.id == Task.campaign_id, Campaign.status == paused)


def claimable_now(task: Task, now: datetime) -> bool:
    """`due_now | lapsed_lease` for one row in hand (after locking it by id)."""
    if task.status in CLAIMABLE:
        return task.next_action_time is None or task.next_action_time <= now
    lease = task.lease_expires_at
    return task.status == TaskStatus.SCHEDULED and lease is not None and lease < now


def _skip(passed_over: Collection[int]) -> ColumnElement[bool]:
    chosen_elsewhere = Task.id.not_in(list(passed_over)) if passed_over else true()
    return chosen_elsewhere & ~paused_campaign()


def lapsed_query(now: datetime, limit: int, passed_over: Collection[int]) -> Select[int, int, int]:
    """Lapsed leases, the longest lapsed first: a range of ix_tasks_scheduled_lease."""
    return (
        select(Task.id, Task.user_id, Task.priority)
        .where(lapsed_lease(now), _skip(passed_over))
        .order_by(Task.lease_expires_at)
        .limit(limit)
    )


def priorities_query() -> Select[int]:
    """The distinct priorities of waiting tasks, by a loose scan of ix_tasks_claim_order:
    the highest, then repeatedly the highest below the last one found."""
    top = select(Task.priority).where(waiting()).order_by(Task.priority.desc()).limit(1)
    levels = select(top.scalar_subquery().label("priority")).cte("levels", recursive=True)
    below = (
        select(Task.priority)
        .where(waiting(), Task.priority < levels.c.priority)
        .order_by(Task.priority.desc())
        .limit(1)
        .scalar_subquery()
    )
    levels = levels.union_all(select(below).where(levels.c.priority.is_not(None)))
    return select(levels.c.priority).where(levels.c.priority.is_not(None))


def due_query(
    now: datetime, priority: int, limit: int, passed_over: Collection[int]
) -> CompoundSelect[int, int, int, datetime | None]:
    """One priority's due tasks, each part one range of ix_tasks_claim_order read in its
    order: the dated ones longest due first, then (or before, see NULLS_FIRST) the
    never-scheduled ones by id. Each part is cut at `limit`."""
    columns = (Task.id, Task.user_id, Task.priority, Task.next_action_time)
    level = waiting() & (Task.priority == priority) & _skip(passed_over)
    parts = (Task.next_action_time <= _instant(now), Task.next_action_time.is_(None))
    # The same ORDER BY for both, though next_action_time is one value in the second:
    # PostgreSQL does not count IS NULL as fixing a column, so "ORDER BY id" alone would
    # not match the index (it walked the primary key over the whole table instead).
    in_order = (Task.next_action_time.asc(), Task.id.asc())
    return union_all(
        *(select(select(*columns).where(level, part).order_by(*in_order).limit(limit).subquery())
          for part in parts)
    )  # fmt: skip


@asynccontextmanager
async def ordered_scans(s: AsyncSession) -> AsyncIterator[None]:
    """On PostgreSQL, the looks inside read their index in order, whatever the statistics
    say. Left to itself the planner fetches a priority it believes has few due tasks with
    a bitmap scan and sorts them; when that belief is stale (a campaign of thousands of
    tasks due now, made since the last ANALYZE) it reads and sorts all of them on every
    claim. An ordered index scan stops after `limit` rows, however wrong the estimate.
    Set for this transaction only, and put back to the server's values after the looks."""
    if s.get_bind().dialect.name != "postgresql":
        yield
        return
    before = (await s.execute(_ORDERED_SCANS)).one()  # the values they had, then off
    yield  # an error in there aborts the transaction, which drops the local settings too
    await s.execute(_PUT_BACK, {"bitmap": before.bitmap, "sort": before.sort})


# The values are read in a subquery, so before set_config changes them.
_ORDERED_SCANS = text(
    "SELECT bitmap, sort, set_config('enable_bitmapscan', 'off', true), "
    "set_config('enable_sort', 'off', true) FROM (SELECT "
    "current_setting('enable_bitmapscan') AS bitmap, current_setting('enable_sort') AS sort "
    "OFFSET 0) AS before"
)
_PUT_BACK = text(
    "SELECT set_config('enable_bitmapscan', :bitmap, true), set_config('enable_sort', :sort, true)"
)


async def candidates(
    s: AsyncSession, now: datetime, limit: int, passed_over: Collection[int]
) -> list[Candidate]:
    """Up to `limit` lapsed leases and up to `limit` due tasks in claim order (neither
    chosen before nor in a paused campaign); by priority, the lapsed first within one."""
    async with ordered_scans(s):
        lapsed = [Candidate(*r) for r in await s.execute(lapsed_query(now, limit, passed_over))]
        due = await _due(s, now, limit, passed_over)
    return sorted([*lapsed, *due], key=lambda c: -c.priority)  # stable: lapsed first


async def _due(
    s: AsyncSession, now: datetime, limit: int, passed_over: Collection[int]
) -> list[Candidate]:
    nulls_first = NULLS_FIRST.get(s.get_bind().dialect.name, False)
    due: list[Candidate] = []
    for priority in list(await s.scalars(priorities_query())):
        rows = list(await s.execute(due_query(now, priority, limit - len(due), passed_over)))
        rows.sort(key=lambda r: ((r.next_action_time is None) != nulls_first,
                                 r.next_action_time or now, r.id))  # fmt: skip
        due += [Candidate(r.id, r.user_id, r.priority) for r in rows[: limit - len(due)]]
        if len(due) >= limit:
            break
    return due
