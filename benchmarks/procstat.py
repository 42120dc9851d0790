"""CPU seconds and RSS of the current process from /proc (Linux), no psutil. No asyncio."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU time of a process (all threads), this one by default."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size from /proc/<pid>/status (VmRSS), this process by default."""
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


@dataclass
class CpuWindow:
    """CPU used over a wall-clock window: start() then stop()."""

    cpu0: float = 0.0
    wall0: float = 0.0
    cpu_s: float = 0.0
    wall_s: float = 0.0

    def start(self) -> None:
        self.cpu0, self.wall0 = cpu_seconds(), time.monotonic()

    def stop(self) -> None:
        self.cpu_s = cpu_seconds() - self.cpu0
        self.wall_s = time.monotonic() - self.wall0

    @property
    def cores(self) -> float:
        """Average cores busy (1.0 = one core fully used)."""
        return self.cpu_s / self.wall_s if self.wall_s else 0.0


def machine() -> dict[str, object]:
    """What the numbers were measured on."""
    import platform

    model = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "load_avg_before": [round(x, 2) for x in os.getloadavg()],
    }
