"""Worker 0's /readyz answers for the other workers of `run --workers N`: what a worker
says about itself, how worker 0 judges it, and the round trip through Redis."""

from __future__ import annotations

import json
import os
import uuid

import pytest
from prometheus_client import CollectorRegistry, Counter

from common.health import ComponentHealth, HealthRegistry
from common.metrics import _CounterCopy
from common.worker_readiness import (
    WorkerReadiness,
    WorkerRole,
    judge_record,
    own_record,
    pid_alive,
)


def test_a_worker_is_ready_unless_a_required_component_fails() -> None:
    components = {
        "ami": ComponentHealth(False, "not connected: refused"),
        "scheduler": ComponentHealth(False, "not claiming: paused", required=False),
        "audiosocket": ComponentHealth(True, "127.0.0.1:9093"),
    }
    record = own_record(4242, components)
    assert record == {"pid": 4242, "ready": False, "failing": ["ami: not connected: refused"]}
    judged = judge_record(json.dumps(record), alive=True)
    assert judged == ComponentHealth(False, "not ready (pid 4242): ami: not connected: refused")
    ready = json.dumps(own_record(4242, {"audiosocket": components["audiosocket"]}))
    assert judge_record(ready, alive=True) == ComponentHealth(True, "ready (pid 4242)")


def test_a_missing_record_or_a_gone_process_is_not_ready_and_says_which() -> None:
    assert not judge_record(None).ok
    assert "no readiness report" in judge_record(None).detail
    ready = json.dumps(own_record(4242, {}))
    assert judge_record(ready, alive=False) == ComponentHealth(False, "process 4242 exited")
    assert pid_alive(os.getpid())


def test_copied_counts_add_only_what_grew() -> None:
    registry = CollectorRegistry()
    counter = Counter("copied", "test", ["kind"], registry=registry)
    counts = {("audio",): 0.0}
    copy = _CounterCopy(counter, lambda: counts.items())
    copy()
    assert registry.get_sample_value("copied_total", {"kind": "audio"}) == 0.0  # from the start
    counts[("audio",)] = 5.0
    copy()
    copy()
    counts[("audio",)] = 7.0
    copy()
    assert registry.get_sample_value("copied_total", {"kind": "audio"}) == 7.0


@pytest.mark.redis
async def test_worker_0_reads_what_worker_1_publishes(redis_url: str) -> None:
    group = f"test:{uuid.uuid4().hex}"
    first_health, second_health = HealthRegistry(), HealthRegistry()
    second_health.register("ami", lambda: ComponentHealth(False, "not connected: refused"))
    first = WorkerReadiness(redis_url, WorkerRole(group, 0, 2), first_health)
    second = WorkerReadiness(redis_url, WorkerRole(group, 1, 2), second_health)
    await first.start()
    try:
        assert not (await first_health.collect())["worker-1"].ok  # nothing published yet
        await second.publish()
        seen = (await first_health.collect())["worker-1"]
        assert seen == ComponentHealth(
            False, f"not ready (pid {os.getpid()}): ami: not connected: refused"
        )
        second_health.register("ami", lambda: ComponentHealth(True, "logged in"))
        await second.publish()
        assert (await first_health.collect())["worker-1"].ok
        await second.stop()  # a worker that stops withdraws its record
        assert "no readiness report" in (await first_health.collect())["worker-1"].detail
    finally:
        await first.stop()
