"""Readiness of every worker of `main.py run --workers N`, so worker 0's /readyz answers for
the whole box (docs/architecture.md).

Why records in Redis: the workers share it whenever N > 1 (launcher/supervisor.py refuses
more than one worker without it). Each other worker writes a short-lived record of its own
health checks every PUBLISH_EVERY seconds; worker 0 reads them as one health check per
worker. A missing record means the worker is not running, still starting, or hung (it
stopped writing); a record whose process is gone means it died since it last wrote. The
workers of one supervisor run on one host, so worker 0 can ask the OS about a pid.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from common.health import ComponentHealth, HealthCheck, HealthRegistry
from common.owned_tasks import TaskOwner

log = logging.getLogger("opendeep")
PUBLISH_EVERY = 2.0
RECORD_TTL = 10.0  # a worker silent this long counts as not ready
KEY_PREFIX = "opendeep:worker-ready"


@dataclass(frozen=True)
class WorkerRole:
    """Which worker this process is: `group` names one supervisor's workers (several boxes
    may share one Redis), `index` 0 serves the web app, `count` is N."""

    group: str
    index: int
    count: int


def record_key(group: str, index: int) -> str:
    return f"{KEY_PREFIX}:{group}:{index}"


def own_record(pid: int, components: dict[str, ComponentHealth]) -> dict[str, object]:
    """What a worker says about itself: ready as /readyz would judge it, and why not."""
    failing = [f"{name}: {c.detail}" for name, c in components.items() if c.required and not c.ok]
    return {"pid": pid, "ready": not failing, "failing": failing}


def judge_record(raw: str | bytes | None, alive: bool | None = None) -> ComponentHealth:
    """Worker 0's view of another worker's record (`alive`: is its pid still running)."""
    if raw is None:
        return ComponentHealth(
            False, f"no readiness report for {RECORD_TTL:.0f} s: not running, starting or hung"
        )
    record = json.loads(raw)
    pid = record["pid"]
    if alive is False:
        return ComponentHealth(False, f"process {pid} exited")
    if not record["ready"]:
        return ComponentHealth(False, f"not ready (pid {pid}): " + "; ".join(record["failing"]))
    return ComponentHealth(True, f"ready (pid {pid})")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class WorkerReadiness:
    """Worker 0 registers a `worker-<i>` health check per other worker; the others publish."""

    def __init__(self, redis_url: str, role: WorkerRole, health: HealthRegistry) -> None:
        self.role, self.health = role, health
        self._redis = aioredis.Redis.from_url(redis_url, socket_timeout=2.0)
        self._owner = TaskOwner("worker-readiness")
        self._key = record_key(role.group, role.index)

    async def start(self) -> None:
        if self.role.index == 0:
            for index in range(1, self.role.count):
                self.health.register(f"worker-{index}", self._checker(index))
        else:
            self._owner.spawn(self._publish_forever(), name="publish")

    def _checker(self, index: int) -> HealthCheck:
        key = record_key(self.role.group, index)

        async def check() -> ComponentHealth:
            raw = await self._redis.get(key)
            alive = None if raw is None else pid_alive(json.loads(raw)["pid"])
            return judge_record(raw, alive)

        return check

    async def _publish_forever(self) -> None:
        failed = False
        while True:
            try:
                await self.publish()
                failed = False
            except RedisError as exc:  # the record expires: worker 0 reports this worker
                if not failed:
                    log.warning("cannot publish readiness: %s", exc)
                failed = True
            await asyncio.sleep(PUBLISH_EVERY)

    async def publish(self) -> None:
        record = own_record(os.getpid(), await self.health.collect())
        await self._redis.set(self._key, json.dumps(record), px=int(RECORD_TTL * 1000))

    async def stop(self) -> None:
        await self._owner.aclose()
        if self.role.index != 0:
            try:  # a worker that stopped is not ready; say so at once
                await self._redis.delete(self._key)
            except RedisError as exc:
                log.warning("cannot withdraw readiness: %s", exc)
        await self._redis.aclose()
