"""At most one log line per kind of event per interval, saying how many it stands for.

Why: a peer that opens connections in a loop (a misrouted dialplan, a port scanner) must
not fill the disk with one line per refusal; the counters in /metrics count every one, and
the log keeps one line a second per reason with the number folded into it. Pure over a
clock, so it is tested without sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class LogThrottle:
    every: float = 1.0  # seconds between lines of one kind
    clock: Callable[[], float] = time.monotonic
    _last: dict[str, float] = field(default_factory=dict)
    _folded: dict[str, int] = field(default_factory=dict)

    def due(self, kind: str) -> int:
        """Count one event; the number of events the line logged now stands for (this one
        and those held back since the last line), or 0 when no line is due yet."""
        now = self.clock()
        held = self._folded.get(kind, 0) + 1
        last = self._last.get(kind)
        if last is not None and now - last < self.every:
            self._folded[kind] = held
            return 0
        self._last[kind] = now
        self._folded[kind] = 0
        if len(self._last) > 1024:  # kinds come from our own reasons; bound them anyway
            self._forget_before(now - self.every)
        return held

    def _forget_before(self, cutoff: float) -> None:
        for kind in [k for k, at in self._last.items() if at < cutoff]:
            del self._last[kind]
            self._folded.pop(kind, None)
