"""Tasks: created per campaign in one transaction, changed only with a version check.

Writers (scheduler, analyzer, lifecycle manager) pass the version they read; a change
made meanwhile by another process raises VersionConflict instead of being overwritten.
Every status change is made through task_events (its timeline entry, webhook and live
event come with it).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any

from sqlalchemy import (
    ColumnElement,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from database.errors import NotFound, VersionConflict
from database.models import Campaign, Task
from database.repositories import claim_candidates, task_events
from database.repositories.base import apply_changes, check_e164
from database.repositories.claim_candidates import Candidate, claimable_now, status_in
from database.states import TaskActor, TaskStatus

UPDATABLE = frozenset(
    {"attempt_count", "max_attempts", "next_action_time", "priority", "inter_call_context",
     "result", "last_decision", "last_decision_reason", "claimed_by", "lease_expires_at",
     "context", "success_criteria", "objective", "contact_name"}
)  # fmt: skip
LIVE_TASK = (TaskStatus.SCHEDULED, TaskStatus.IN_PROGRESS)
FAIR_WINDOW = 6  # candidates read per slot to share: how far down one user's queue we look
CLAIM_TRIES = 8
# Rows made and written per flush by create_many: both are CPU on the event loop (5,000
# tasks at once held it ~400 ms in the API's CSV import of a whole campaign; issue 15).
FLUSH_BATCH = 250
# Higher is called first. Bounded so that no plan can outrank everything else for good
# (a test call, which the person is waiting on, takes the top).
MIN_PRIORITY, MAX_PRIORITY = 0, 100


def check_priority(priority: int) -> int:
    """The last line behind every entry point's own bound (plans, test calls)."""
    if not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        raise ValueError(f"priority must be between {MIN_PRIORITY} and {MAX_PRIORITY}")
    return priority


@dataclass(frozen=True, slots=True)
class NewTask:
    phone_number: str
    objective: str
    contact_name: str = ""
    context: str = ""
    success_criteria: str = ""
    priority: int = 0  # higher = called first, MIN_PRIORITY..MAX_PRIORITY
    max_attempts: int = 3
    next_action_time: datetime | None = None  # None = due now
    inter_call_context: dict[str, Any] = field(default_factory=dict)


def _row(user_id: int, campaign_id: int | None, new: NewTask) -> Task:
    return Task(
        user_id=user_id,
        campaign_id=campaign_id,
        phone_number=check_e164(new.phone_number),
        objective=new.objective,
        contact_name=new.contact_name,
        context=new.context,
        success_criteria=new.success_criteria,
        priority=check_priority(new.priority),
        max_attempts=new.max_attempts,
        next_action_time=new.next_action_time,
        inter_call_context=dict(new.inter_call_context),
        status=TaskStatus.PENDING,
    )


async def create_many(
    s: AsyncSession,
    *,
    user_id: int,
    campaign_id: int | None,
    tasks: Sequence[NewTask],
    actor: TaskActor = TaskActor.ORCHESTRATOR,
) -> list[Task]:
    """All or nothing (the caller's transaction); refuses another user's campaign."""
    if campaign_id is not None:
        owner = await s.scalar(select(Campaign.user_id).where(Campaign.id == campaign_id))
        if owner != user_id:
            raise NotFound("campaign not found")
    rows: list[Task] = []
    for start in range(0, len(tasks), FLUSH_BATCH):  # the event loop runs between batches
        batch = [_row(user_id, campaign_id, new) for new in tasks[start : start + FLUSH_BATCH]]
        s.add_all(batch)
        await s.flush()
        rows += batch
    await task_events.created(s, rows, actor)
    return rows


async def create(
    s: AsyncSession,
    *,
    user_id: int,
    task: NewTask,
    campaign_id: int | None = None,
    actor: TaskActor = TaskActor.ORCHESTRATOR,
) -> Task:
    (row,) = await create_many(
        s, user_id=user_id, campaign_id=campaign_id, tasks=[task], actor=actor
    )
    return row


async def get(s: AsyncSession, *, user_id: int, task_id: int) -> Task | None:
    return await s.scalar(select(Task).where(Task.id == task_id, Task.user_id == user_id))


def _mine(
    user_id: int, campaign_id: int | None, statuses: Collection[TaskStatus] | None
) -> list[ColumnElement[bool]]:
    where = [Task.user_id == user_id]
    if campaign_id is not None:
        where.append(Task.campaign_id == campaign_id)
    if statuses:
        where.append(Task.status.in_(list(statuses)))
    return where


async def list_for_user(
    s: AsyncSession,
    *,
    user_id: int,
    campaign_id: int | None = None,
    statuses: Collection[TaskStatus] | None = None,
    limit: int | None = None,
    offset: int = 0,
    recently_changed_first: bool = False,
    changed_since: datetime | None = None,
) -> list[Task]:
    """In creation order, or most recently changed first; `limit`/`offset` page through;
    `changed_since`: only tasks updated at or after it."""
    query = select(Task).where(*_mine(user_id, campaign_id, statuses))
    if changed_since is not None:
        query = query.where(Task.updated_at >= changed_since)
    order = (Task.updated_at.desc(), Task.id.desc()) if recently_changed_first else (Task.id,)
    return list(await s.scalars(query.order_by(*order).offset(offset).limit(limit)))


async def count_for_user(
    s: AsyncSession,
    *,
    user_id: int,
    campaign_id: int | None = None,
    statuses: Collection[TaskStatus] | None = None,
) -> int:
    query = select(func.count()).select_from(Task).where(*_mine(user_id, campaign_id, statuses))
    return int(await s.scalar(query) or 0)


async def status_counts(
    s: AsyncSession, *, user_id: int, campaign_ids: Collection[int]
) -> dict[int, dict[str, int]]:
    """{campaign_id: {status: n}} for these campaigns, counted in the database: a campaign's
    progress must not need its (possibly thousands of) task rows."""
    if not campaign_ids:
        return {}
    query = (
        select(Task.campaign_id, Task.status, func.count())
        .where(Task.user_id == user_id, Task.campaign_id.in_(list(campaign_ids)))
        .group_by(Task.campaign_id, Task.status)
    )
    counts: dict[int, dict[str, int]] = {}
    for campaign_id, status, n in await s.execute(query):
        if campaign_id is not None:  # the query asks for campaigns, so always set
            counts.setdefault(campaign_id, {})[str(status)] = int(n)
    return counts


async def update_status(
    s: AsyncSession,
    *,
    user_id: int,
    task_id: int,
    expected_version: int,
    status: TaskStatus,
    actor: TaskActor,
    **changes: Any,
) -> Task | None:
    """None when the task is not this user's; VersionConflict when it changed meanwhile.
    The reason recorded on the timeline is `last_decision_reason` when given."""
    task = await get(s, user_id=user_id, task_id=task_id)
    if task is None:
        return None
    if task.version != expected_version:
        raise VersionConflict(f"task {task_id} is at version {task.version}")
    apply_changes(task, changes, UPDATABLE)
    try:
        await task_events.move(s, task, status, actor=actor)
        await s.flush()
    except StaleDataError as exc:  # changed between our read and our write
        raise VersionConflict(f"task {task_id} changed concurrently") from exc
    return task


async def claim_due(
    s: AsyncSession,
    *,
    now: datetime,
    node_id: str,
    lease: timedelta,
    limit: int,
    per_user: int | None = None,
) -> list[Task]:
    """The scheduler's claim, across all users: due pending/retry tasks and expired leases,
    except those of a paused campaign (they wait, due, until it is resumed).

    Fair within a priority: users take turns (the most urgent task of each, then the next
    of each), so one user's thousand due tasks cannot take every slot from another's one;
    `per_user` caps a user's calls in progress (counted across every process). Candidates
    come off the due index in claim order (FAIR_WINDOW per slot; claim_candidates.py), so
    a claim reads a few hundred index entries however many tasks are waiting.
    FOR UPDATE SKIP LOCKED lets several processes claim at once on PostgreSQL without
    taking the same task; on SQLite the BEGIN IMMEDIATE transaction serialises claims.
    The candidates are read without locks and only the chosen ones are locked; what another
    claimer locked first is passed over on the next look (CLAIM_TRIES looks at most).
    """
    tasks: list[Task] = []
    passed_over: set[int] = set()  # chosen, but another claimer had locked them first
    for _ in range(CLAIM_TRIES):
        wanted = limit - len(tasks)
        chosen, taken = await _claim_some(s, now, wanted, per_user, passed_over)
        if taken:  # one statement for the batch; the rows are ours (locked) meanwhile
            before = {t.id: TaskStatus(t.status) for t in taken}
            await s.execute(
                update(Task)
                .where(Task.id.in_([t.id for t in taken]))
                .values(
                    status=TaskStatus.SCHEDULED, claimed_by=node_id,
                    lease_expires_at=now + lease, version=Task.version + 1,
                )
                .execution_options(synchronize_session="fetch", **task_events.recorded_options())
            )  # fmt: skip
            await task_events.claimed(s, taken, before)
        tasks += taken
        passed_over |= set(chosen) - {t.id for t in taken}
        if len(taken) == len(chosen) or len(tasks) >= limit:
            break  # we got what we chose, or all we wanted
    return tasks


def take_turns(
    candidates: Sequence[Candidate], limit: int, per_user: int | None, busy: Mapping[int, int]
) -> list[Candidate]:
    """Up to `limit` tasks: by priority, and within a priority one per user per turn, in
    the order of each user's most urgent task. Pure (the candidates are already ordered)."""
    chosen: list[Candidate] = []
    taken = dict(busy)
    for _, group in groupby(candidates, key=lambda t: t.priority):
        queues: dict[int, list[Candidate]] = {}
        for task in group:
            queues.setdefault(task.user_id, []).append(task)
        while queues and len(chosen) < limit:
            for user_id in list(queues):
                if per_user is not None and taken.get(user_id, 0) >= per_user:
                    del queues[user_id]
                    continue
                chosen.append(queues[user_id].pop(0))
                taken[user_id] = taken.get(user_id, 0) + 1
                if not queues[user_id]:
                    del queues[user_id]
                if len(chosen) == limit:
                    break
    return chosen


async def _in_progress(s: AsyncSession, user_ids: set[int]) -> dict[int, int]:
    """Calls each of these users has going right now (tasks claimed or in a call)."""
    if not user_ids:
        return {}
    rows = await s.execute(
        select(Task.user_id, func.count())
        .where(Task.user_id.in_(user_ids), status_in(*LIVE_TASK))
        .group_by(Task.user_id)
    )
    return {user_id: int(count) for user_id, count in rows}


async def _claim_some(
    s: AsyncSession,
    now: datetime,
    limit: int,
    per_user: int | None,
    passed_over: set[int],
) -> tuple[list[int], list[Task]]:
    """One look at the due tasks (no locks), then lock the fair choice among them: what
    was chosen, and what we got (another claimer may hold some of it)."""
    candidates = await claim_candidates.candidates(s, now, limit * FAIR_WINDOW, passed_over)
    busy = await _in_progress(s, {c.user_id for c in candidates}) if per_user else {}
    chosen = [c.id for c in take_turns(candidates, limit, per_user, busy)]
    locked = (
        select(Task)
        .where(Task.id.in_(chosen))
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    order = {task_id: n for n, task_id in enumerate(chosen)}
    mine = [task for task in await s.scalars(locked) if claimable_now(task, now)]
    return chosen, sorted(mine, key=lambda t: order[t.id])
