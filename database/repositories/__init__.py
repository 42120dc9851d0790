"""User-scoped data access: every read and write of a person's rows takes their user_id.

One module per aggregate; call them with the session of the current unit of work:

    async with sessions() as s, s.begin():
        task = await tasks.get(s, user_id=user.id, task_id=task_id)

There is deliberately no function that loads a person's row by id alone.
"""

from database.repositories import (
    access_tokens,
    calls,
    campaigns,
    conversations,
    dnd,
    feedback,
    idempotency,
    messages,
    phone_codes,
    task_events,
    tasks,
    turns,
    users,
    webhook_outbox,
)

__all__ = [
    "access_tokens",
    "calls",
    "campaigns",
    "conversations",
    "dnd",
    "feedback",
    "idempotency",
    "messages",
    "phone_codes",
    "task_events",
    "tasks",
    "turns",
    "users",
    "webhook_outbox",
]
