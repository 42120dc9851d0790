"""Login attempt limiting, in process: per account and per client address.

Counts failures in a sliding window. In-process is enough to make online password
guessing slow; several processes each keep their own count (a limit per process).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class LoginRateLimiter:
    max_per_account: int = 5
    max_per_address: int = 30
    max_signups_per_address: int = 10  # sign-ups cost a password hash each
    window_seconds: float = 15 * 60
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def retry_after(self, account: str, address: str) -> float:
        """Seconds until an attempt is allowed again; 0 when it is allowed now."""
        now = self.clock()
        waits = [
            self._wait(f"account:{account}", self.max_per_account, now),
            self._wait(f"address:{address}", self.max_per_address, now),
        ]
        return max(waits)

    def failed(self, account: str, address: str) -> None:
        now = self.clock()
        for key in (f"account:{account}", f"address:{address}"):
            self._failures.setdefault(key, deque()).append(now)

    def signup_retry_after(self, address: str) -> float:
        return self._wait(f"signup:{address}", self.max_signups_per_address, self.clock())

    def signed_up(self, address: str) -> None:
        self._failures.setdefault(f"signup:{address}", deque()).append(self.clock())

    def succeeded(self, account: str) -> None:
        self._failures.pop(f"account:{account}", None)

    def _wait(self, key: str, limit: int, now: float) -> float:
        failures = self._failures.get(key)
        if not failures:
            return 0.0
        while failures and failures[0] <= now - self.window_seconds:
            failures.popleft()
        if not failures:
            del self._failures[key]  # keeps the map from growing with every address seen
            return 0.0
        if len(failures) < limit:
            return 0.0
        return failures[0] + self.window_seconds - now
