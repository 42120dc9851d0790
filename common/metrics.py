"""Prometheus metrics, one registry per process (built in main.py, passed to who records).

Defined in one place so names stay consistent; later issues add to `PlatformMetrics`.

Under `main.py run --workers N` every worker records into prometheus-client's multiprocess
files (PROMETHEUS_MULTIPROC_DIR, a private directory the supervisor makes) and /metrics on
worker 0 adds them all up, so a scrape sees the whole box (docs/architecture.md). Each
gauge says how its per-worker values combine (`multiprocess_mode`); the `live*` modes drop
a worker that died (the supervisor calls `mark_process_dead`). Without that variable (one
process, tests, benchmarks) the modes are ignored and nothing here changes.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from common.owned_tasks import TaskOwner

Reading = Iterable[tuple[tuple[str, ...], float]]  # (label values, value) pairs
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client reads it when first imported
MIRROR_EVERY = 1.0  # seconds between copies of component-kept values into the shared files


def multiprocess_dir() -> str | None:
    """The shared directory when this process is one of several workers, else None."""
    return os.environ.get(MULTIPROC_ENV) or None


class PlatformMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        # From the environment, like prometheus-client's own choice of where values live.
        self.shared_dir = multiprocess_dir()
        self._mirrors: list[Callable[[], None]] = []
        self._owner = TaskOwner("metrics")
        r = self.registry
        self.calls_active = Gauge(
            "opendeep_calls_active",
            "Calls between originate and hangup",
            registry=r,
            multiprocess_mode="livesum",  # the box's calls; a dead worker's calls are gone
        )
        self.calls_total = Counter(
            "opendeep_calls_total", "Finished calls by outcome", ["outcome"], registry=r
        )
        self.ami_connected = Gauge(
            "opendeep_ami_connected",
            "1 when logged in to AMI",
            registry=r,
            multiprocess_mode="liveall",  # one series per worker (label pid): which one is down
        )
        self.ami_reconnects = Counter("opendeep_ami_reconnects_total", "AMI reconnects", registry=r)
        self.audiosocket_sessions = Gauge(
            "opendeep_audiosocket_sessions",
            "Attached AudioSocket sessions",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.inbound_calls = Counter(
            "opendeep_inbound_calls_total",
            "Inbound calls by how they were handled (callback, forwarded, message, no_slot...)",
            ["handled"],
            registry=r,
        )
        self.turn_latency = Histogram(
            "opendeep_turn_latency_seconds",
            "Callee stops speaking -> first agent frame out",
            buckets=(0.2, 0.4, 0.6, 0.8, 1.0, 1.5, 2.0, 3.0, 5.0),
            registry=r,
        )

        self.hold_seconds = Counter(
            "opendeep_hold_seconds_total", "Seconds calls spent on hold", registry=r
        )
        self.model_audio_avoided = Counter(
            "opendeep_model_audio_avoided_seconds_total",
            "Seconds of caller audio not sent to the model while on hold",
            registry=r,
        )

    def observe_hold(self, held_seconds: float, avoided_seconds: float) -> None:
        """One hold is over: its length and the caller audio the model did not get."""
        self.hold_seconds.inc(max(0.0, held_seconds))
        self.model_audio_avoided.inc(max(0.0, avoided_seconds))

    def gauge_from(self, gauge: Gauge, read: Callable[[], float]) -> None:
        """A gauge whose value a component keeps itself (read at scrape time in one process;
        copied every MIRROR_EVERY seconds among workers, whose scrape is another process's)."""
        if self.shared_dir is None:
            gauge.set_function(read)
        else:
            self._mirrors.append(lambda: gauge.set(read()))

    def counters_from(
        self, name: str, documentation: str, labels: list[str], read: Callable[[], Reading]
    ) -> None:
        """Counters kept by a component itself (e.g. per-frame counts on the audio path),
        read only when /metrics is scraped, so the hot path does no metrics work. Among
        workers a custom collector cannot reach the scraping process, so the counts are
        copied into a shared-file Counter every MIRROR_EVERY seconds instead."""
        if self.shared_dir is None:
            self.registry.register(_ReadCounters(name, documentation, labels, read))
        else:
            counter = Counter(name, documentation, labels, registry=self.registry)
            self._mirrors.append(_CounterCopy(counter, read))

    def sync(self) -> None:
        """Copy component-kept values into the shared files now (no-op in one process)."""
        for mirror in self._mirrors:
            mirror()

    async def start(self) -> None:
        if self.shared_dir is not None and self._mirrors:
            self._owner.spawn(self._mirror_forever(), name="mirror")

    async def stop(self) -> None:
        await self._owner.aclose()
        self.sync()  # the last counts, before this worker's files outlive it

    async def _mirror_forever(self) -> None:
        while True:
            self.sync()
            await asyncio.sleep(MIRROR_EVERY)

    def render(self) -> bytes:
        """The text exposition /metrics serves: this process's registry, or every worker's
        files added up (a fresh registry per scrape, as prometheus-client's docs ask)."""
        if self.shared_dir is None:
            return generate_latest(self.registry)
        self.sync()
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.shared_dir)  # type: ignore[no-untyped-call]
        return generate_latest(registry)


class _CounterCopy:
    """Adds what a component's own counts grew by since the last copy."""

    def __init__(self, counter: Counter, read: Callable[[], Reading]) -> None:
        self.counter, self.read = counter, read
        self.copied: dict[tuple[str, ...], float] = {}

    def __call__(self) -> None:
        for values, value in self.read():
            child = self.counter.labels(*values) if values else self.counter
            grown = value - self.copied.get(values, 0.0)
            if grown > 0:  # a series appears at 0 too, as the one-process collector shows it
                child.inc(grown)
                self.copied[values] = value


class _ReadCounters(Collector):
    def __init__(
        self, name: str, documentation: str, labels: list[str], read: Callable[[], Reading]
    ) -> None:
        self.name, self.documentation, self.labels, self.read = name, documentation, labels, read

    def collect(self) -> Iterator[Any]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labels)
        for values, value in self.read():
            family.add_metric(list(values), value)
        yield family
