"""At most N live-event sockets per person in this process; a new one closes the oldest.

Why the oldest gives way rather than the new one being refused: the newest page is the
one in front of the person, while the oldest is most likely a forgotten tab. The closed
page is told why (close code `REPLACED` and a reason) and does not reconnect (static/app.js),
so pages cannot push each other out in a loop. Each socket costs a subscription and two
tasks; the bound keeps one account (or a script with its token) from holding thousands.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

REPLACED = 4008  # application range (4000-4999); mirrors 1008 "policy violation"
REPLACED_REASON = "too many live pages open; this one was closed for a newer one"


class SocketLimit:
    def __init__(self, per_user: int = 5) -> None:
        if per_user < 1:
            raise ValueError("per_user must be at least 1")
        self.per_user = per_user
        self._open: dict[int, list[asyncio.Event]] = {}

    def open_for(self, user_id: int) -> int:
        return len(self._open.get(user_id, ()))

    @contextlib.contextmanager
    def admit(self, user_id: int) -> Iterator[asyncio.Event]:
        """Count one socket while inside; the event is set when it must give way."""
        replaced = asyncio.Event()
        sockets = self._open.setdefault(user_id, [])
        sockets.append(replaced)
        while len(sockets) > self.per_user:
            sockets.pop(0).set()
        try:
            yield replaced
        finally:
            if replaced in sockets:
                sockets.remove(replaced)
            if not sockets:
                self._open.pop(user_id, None)
