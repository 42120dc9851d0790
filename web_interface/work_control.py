"""What the web app needs to act on the person's campaigns and tasks; main.py passes the
real one (task_manager/campaign_control.py).

A Protocol, not an import: web_interface never imports task_manager, and campaign and
task rows are written by the task engine alone (docs/architecture.md). Answers are
JSON-ready: the new state, or {"refused": "why"} when the row's state does not allow it.
Another person's campaign or task raises database.errors.NotFound.
"""

from __future__ import annotations

from typing import Any, Protocol


class WorkControl(Protocol):
    async def pause(self, user_id: int, campaign_id: int) -> dict[str, Any]:
        """No new calls until resumed; calls in progress finish."""
        ...

    async def resume(self, user_id: int, campaign_id: int) -> dict[str, Any]:
        """The campaign's waiting tasks may be called again."""
        ...

    async def cancel(self, user_id: int, campaign_id: int) -> dict[str, Any]:
        """Open tasks are cancelled; calls in progress finish."""
        ...

    async def settle(self, user_id: int, task_id: int, decision: str, note: str) -> dict[str, Any]:
        """A task that needs the person: `decision` done, retry (due now) or fail."""
        ...
