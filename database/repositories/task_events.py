"""The one place a task's status changes: the row, its task_events entry, its webhook and
its live event, in the caller's transaction.

Why one place: the timeline and the webhooks are only worth having if no change escapes
them, and tasks are moved by many writers (orchestrator, scheduler claim and decisions,
analyzer, lifecycle manager, call-backs, campaign control, goals, phone codes). Each
goes through `move` (a row in hand), `move_where` (a set of rows) or `created`. Two
guards make a bypass fail loudly instead of silently: a flush of a Task whose status was
set by hand, and an UPDATE of tasks.status that did not come from here, both raise
UnrecordedTaskChange. The live event (`TaskStatusChanged`) is announced only after the
transaction commits (database/engine.py, `announce_after_commit`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, event, insert, select, update
from sqlalchemy import inspect as orm_inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from common.events import TaskStatusChanged
from database.engine import announce_after_commit
from database.models import Task, TaskEvent
from database.repositories import webhook_outbox
from database.states import TaskActor, TaskStatus
from database.types import utcnow

RECORDED = "opendeep_task_status_recorded"  # execution option of move_where's UPDATE
_MOVED = "opendeep.moved_tasks"  # ids whose status `move` set, until the next flush
REASON_MAX = 2000


class UnrecordedTaskChange(RuntimeError):
    """A task's status was changed around this module: it would miss the timeline."""


@dataclass(frozen=True, slots=True)
class Change:
    task: Task  # as it is after the change
    from_status: TaskStatus | None
    reason: str
    actor: TaskActor


async def created(s: AsyncSession, rows: Sequence[Task], actor: TaskActor) -> None:
    """New tasks (already flushed, so they have ids): their first timeline entry."""
    await _record(s, [Change(t, None, "created", actor) for t in rows])


async def move(
    s: AsyncSession,
    task: Task,
    to: TaskStatus,
    *,
    actor: TaskActor,
    reason: str | None = None,
    **changes: Any,
) -> bool:
    """Set a loaded task's status (and other columns); recorded when it actually changes.
    The version check applies at the flush, as for any change of the row."""
    before = TaskStatus(task.status)
    for name, value in changes.items():
        setattr(task, name, value)
    if before == to:
        return False
    task.status = to
    s.info.setdefault(_MOVED, set()).add(task.id)
    why = reason if reason is not None else (task.last_decision_reason or "")
    await _record(s, [Change(task, before, why, actor)])
    return True


async def move_where(
    s: AsyncSession,
    where: Iterable[ColumnElement[bool]],
    to: TaskStatus,
    *,
    actor: TaskActor,
    reason: str,
    **values: Any,
) -> int:
    """Every task matching `where` to `to`, in one UPDATE that bumps versions (a writer
    holding an older copy then loses); the rows are locked first, so each entry's `from`
    is what was replaced."""
    rows = list(
        await s.scalars(
            select(Task).where(*where).with_for_update().execution_options(populate_existing=True)
        )
    )
    if not rows:
        return 0
    before = {t.id: TaskStatus(t.status) for t in rows}
    await s.execute(
        update(Task)
        .where(Task.id.in_(list(before)))
        .values(status=to, version=Task.version + 1, updated_at=utcnow(), **values)
        .execution_options(synchronize_session="fetch", **{RECORDED: True})
    )
    await _record(s, [Change(t, before[t.id], reason, actor) for t in rows if before[t.id] != to])
    return len(rows)


async def claimed(s: AsyncSession, rows: Sequence[Task], before: dict[int, TaskStatus]) -> None:
    """The claim's own batch UPDATE (tasks.claim_due) moved these rows to scheduled."""
    changes = [
        Change(t, before[t.id], "claimed", TaskActor.SCHEDULER)
        for t in rows
        if before[t.id] != TaskStatus.SCHEDULED  # a lapsed lease re-claimed: no change
    ]
    await _record(s, changes)


def recorded_options() -> dict[str, bool]:
    """Execution options for an UPDATE of tasks.status whose caller records the changes
    itself (the claim, through `claimed`)."""
    return {RECORDED: True}


async def _record(s: AsyncSession, changes: Sequence[Change]) -> None:
    if not changes:
        return
    now = utcnow()
    rows = [_row(c, now) for c in changes]
    # One INSERT for the batch (a claim records 50 at once), ids back in order.
    insert_rows = insert(TaskEvent).returning(TaskEvent.id, sort_by_parameter_order=True)
    ids = list(await s.scalars(insert_rows, rows))
    for change, row, event_id in zip(changes, rows, ids, strict=True):
        announce_after_commit(s, change.task.user_id, _live(event_id, row))
        await webhook_outbox.task_changed(
            s, change.task, row["from_status"], row["reason"], row["actor"]
        )


def _row(c: Change, now: datetime) -> dict[str, Any]:
    return {
        "task_id": c.task.id, "user_id": c.task.user_id, "campaign_id": c.task.campaign_id,
        "from_status": None if c.from_status is None else str(c.from_status),
        "to_status": str(c.task.status), "reason": c.reason[:REASON_MAX],
        "actor": str(c.actor), "created_at": now,
    }  # fmt: skip


def _live(event_id: int, row: dict[str, Any]) -> TaskStatusChanged:
    return TaskStatusChanged(
        event_id=event_id,
        task_id=row["task_id"],
        campaign_id=row["campaign_id"],
        from_status=row["from_status"],
        to_status=row["to_status"],
        reason=row["reason"],
        actor=row["actor"],
        at=row["created_at"],
    )


async def timeline(s: AsyncSession, *, user_id: int, task_id: int) -> list[TaskEvent]:
    """A task's status changes, oldest first; [] when it is not this user's."""
    query = select(TaskEvent).where(TaskEvent.task_id == task_id, TaskEvent.user_id == user_id)
    return list(await s.scalars(query.order_by(TaskEvent.id)))


async def for_tasks(
    s: AsyncSession, *, user_id: int, task_ids: Collection[int]
) -> dict[int, list[TaskEvent]]:
    """{task_id: its changes, oldest first} for these tasks of this user (a page's)."""
    out: dict[int, list[TaskEvent]] = {task_id: [] for task_id in task_ids}
    if not out:
        return out
    query = select(TaskEvent).where(TaskEvent.task_id.in_(list(out)), TaskEvent.user_id == user_id)
    for row in await s.scalars(query.order_by(TaskEvent.id)):
        out[row.task_id].append(row)
    return out


@event.listens_for(Session, "before_flush")
def _refuse_hand_set_status(session: Session, _flush: UOWTransaction, _objs: object) -> None:
    moved: set[int] = session.info.get(_MOVED, set())
    for obj in session.dirty:
        changed = isinstance(obj, Task) and obj.id not in moved
        if changed and orm_inspect(obj).attrs.status.history.has_changes():
            raise UnrecordedTaskChange(
                f"task {obj.id}: status set by hand; use database.repositories.task_events"
            )


@event.listens_for(Session, "after_flush")
def _forget_moved(session: Session, _flush: UOWTransaction) -> None:
    session.info.pop(_MOVED, None)


@event.listens_for(Session, "do_orm_execute")
def _refuse_unrecorded_update(state: ORMExecuteState) -> None:
    if not state.is_update or state.execution_options.get(RECORDED):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) != Task.__tablename__:
        return
    values = getattr(state.statement, "_values", None) or {}
    if any(getattr(key, "key", key) == "status" for key in values):
        raise UnrecordedTaskChange("an UPDATE of tasks.status around task_events.move_where")
