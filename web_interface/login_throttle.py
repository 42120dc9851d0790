"""Login throttling: growing delays per address and per (account, address), never a lock.

The policy (issue 13 found that a per-account lock let anyone lock a victim out, even
against the right password):
- An (account, address) pair may fail `free_per_pair` (3) times; after that each failure
  doubles the wait before the next try for that account from that address: 1 s, 2 s,
  4 s, ... up to `max_delay` (15 min).
- An address may fail `free_per_address` (10) times over all accounts; after that the
  same doubling holds for every login from it (password spraying).
- Nothing counts per account alone: the right password from an address that has not
  been failing always gets in, so nobody can lock someone else out. The price: a guesser
  with many addresses gets a few tries per address; each also costs it an argon2 hash.
- IPv6 addresses count per /64, the block one host usually holds.
- Counts are forgotten after `forget_after` (1 h) without a failure. A success clears
  the pair's count, not the address's: a guesser could reset that by logging into an
  account of its own.
- Tries while waiting are answered 429 with Retry-After and not checked or counted.

Which address: the client's, or what a proxy in WEB_FORWARDED_ALLOW_IPS says it is
(web_server.py); nothing else can choose its own. Counts are per process.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv6Address, ip_address, ip_network

MAX_DOUBLINGS = 30  # 2**30 s is past any max_delay; keeps the arithmetic in range


@dataclass(slots=True)
class _Failures:
    count: int
    last: float


@dataclass
class LoginThrottle:
    free_per_pair: int = 3
    free_per_address: int = 10
    base_delay: float = 1.0
    max_delay: float = 15 * 60
    forget_after: float = 60 * 60
    max_signups_per_address: int = 10  # sign-ups cost a password hash each
    signup_window: float = 15 * 60
    max_tracked: int = 100_000  # keys kept; the least recently failing go first
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, _Failures] = field(default_factory=dict)
    _signups: dict[str, deque[float]] = field(default_factory=dict)

    def retry_after(self, account: str, address: str) -> float:
        """Seconds until a try for `account` from `address` is taken; 0 when it is now."""
        now = self.clock()
        pair, place = _keys(account, address)
        return max(
            self._wait(pair, self.free_per_pair, now),
            self._wait(place, self.free_per_address, now),
        )

    def failed(self, account: str, address: str) -> None:
        now = self.clock()
        for key in _keys(account, address):
            old = self._failures.pop(key, None)  # re-inserted last: the dict is LRU-ordered
            count = old.count + 1 if old and now - old.last <= self.forget_after else 1
            self._failures[key] = _Failures(count, now)
        while len(self._failures) > self.max_tracked:
            del self._failures[next(iter(self._failures))]

    def succeeded(self, account: str, address: str) -> None:
        self._failures.pop(_keys(account, address)[0], None)

    def _wait(self, key: str, free: int, now: float) -> float:
        record = self._failures.get(key)
        if record is None:
            return 0.0
        if now - record.last > self.forget_after:
            del self._failures[key]
            return 0.0
        extra = record.count - free
        if extra <= 0:
            return 0.0
        delay = min(self.max_delay, self.base_delay * (1 << min(extra - 1, MAX_DOUBLINGS)))
        return max(0.0, record.last + delay - now)

    def signup_retry_after(self, address: str) -> float:
        now = self.clock()
        times = self._signups.get(_place(address))
        while times and times[0] <= now - self.signup_window:
            times.popleft()
        if not times:
            self._signups.pop(_place(address), None)
            return 0.0
        if len(times) < self.max_signups_per_address:
            return 0.0
        return times[0] + self.signup_window - now

    def signed_up(self, address: str) -> None:
        self._signups.setdefault(_place(address), deque()).append(self.clock())


def _place(address: str) -> str:
    """The unit an address is counted in: itself, or its /64 for IPv6."""
    try:
        parsed = ip_address(address)
    except ValueError:
        return address
    if not isinstance(parsed, IPv6Address):
        return str(parsed)
    if parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return str(ip_network(f"{parsed}/64", strict=False))


def _keys(account: str, address: str) -> tuple[str, str]:
    place = _place(address)
    return f"pair:{account}\n{place}", f"address:{place}"
