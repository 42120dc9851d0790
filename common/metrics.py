"""Prometheus metrics, one registry per process (built in main.py, passed to who records).

Defined in one place so names stay consistent; later issues add to `PlatformMetrics`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

Reading = Iterable[tuple[tuple[str, ...], float]]  # (label values, value) pairs


class PlatformMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.calls_active = Gauge(
            "opendeep_calls_active", "Calls between originate and hangup", registry=r
        )
        self.calls_total = Counter(
            "opendeep_calls_total", "Finished calls by outcome", ["outcome"], registry=r
        )
        self.ami_connected = Gauge("opendeep_ami_connected", "1 when logged in to AMI", registry=r)
        self.ami_reconnects = Counter("opendeep_ami_reconnects_total", "AMI reconnects", registry=r)
        self.audiosocket_sessions = Gauge(
            "opendeep_audiosocket_sessions", "Attached AudioSocket sessions", registry=r
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

    def counters_from(
        self, name: str, documentation: str, labels: list[str], read: Callable[[], Reading]
    ) -> None:
        """Counters kept by a component itself (e.g. per-frame counts on the audio path),
        read only when /metrics is scraped, so the hot path does no metrics work."""
        self.registry.register(_ReadCounters(name, documentation, labels, read))


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
