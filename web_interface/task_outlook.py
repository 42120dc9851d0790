"""What the web app needs to tell the person why calls are off and why a task waits; the
launcher passes the real one (task_manager/task_outlook.py).

A Protocol, not an import: web_interface never imports task_manager, and the reasons come
from the scheduler's own rules, so the page cannot drift from what the scheduler does
(docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession


class TaskOutlook(Protocol):
    def calls_off(self) -> tuple[str, ...]:
        """The settings whose absence turned calls off (e.g. AMI_SECRET); () when on."""
        ...

    async def reasons(
        self, s: AsyncSession, user_id: int, task_ids: Sequence[int]
    ) -> dict[int, str]:
        """Why each of the person's waiting tasks among `task_ids` is not called now, in
        plain words; tasks that will be called as soon as a line is free are left out."""
        ...
