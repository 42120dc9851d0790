"""The webhook delivery worker: sends the outbox, retries with backoff, keeps the log.

A service with start()/stop(), one per process (the launcher wires it); several processes
share the outbox through leases (database/repositories/webhook_deliveries.py). Each look
claims what is due (the earliest pending delivery per endpoint and task, so a task's
events arrive in order), posts them concurrently, and records every attempt. A 2xx is
delivered; anything else is tried again after an exponential backoff with jitter, until
WEBHOOK_GIVE_UP_AFTER (24 h) has passed since the delivery was made, when it is given up
(and the next event of that task may go). A target refused by the address check is given
up at once. Stopping waits for POSTs in flight within a grace period; a POST cut short is
tried again (at least once, with the same event id).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.owned_tasks import TaskOwner
from config.settings import WebhookSettings
from database.repositories import webhook_deliveries
from database.repositories.webhook_deliveries import AttemptResult, Job
from database.types import utcnow
from task_manager.webhook_post import PostOutcome, post

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


def backoff(attempts: int, base: float, cap: float, rng: random.Random) -> float:
    """Seconds before the next try after `attempts` failed ones: base·2^(n-1), capped,
    with jitter (between half and all of it), so receivers that failed together do not
    get every retry at the same instant."""
    delay = min(cap, base * 2.0 ** max(0, attempts - 1))
    return delay * rng.uniform(0.5, 1.0)


class WebhookDeliveryService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: WebhookSettings,
        node_id: str,
        clock: Clock = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.node_id = node_id
        self.clock = clock
        self.rng = rng or random.Random()
        # A lease outlives one POST with room to record it; a dead process's lapses soon.
        self.lease = timedelta(seconds=settings.timeout * 2 + 30)
        self.sent = 0
        self._client: httpx.AsyncClient | None = None
        self._owner = TaskOwner("webhooks")
        self._wake = asyncio.Event()
        self._stopping = False
        self._loop: asyncio.Task[None] | None = None

    async def start(self) -> None:
        timeout = httpx.Timeout(self.settings.timeout)
        # No redirects (a 3xx is a failure), no proxies from the environment (they would
        # bypass the address check), bounded connections.
        self._client = httpx.AsyncClient(
            timeout=timeout, follow_redirects=False, trust_env=False,
            limits=httpx.Limits(max_connections=self.settings.concurrency),
        )  # fmt: skip
        self._owner, self._stopping = TaskOwner("webhooks"), False
        self._loop = self._owner.spawn(self._run(), "loop")

    async def stop(self, grace: float = 5.0) -> None:
        """Let the current look finish its POSTs within `grace`, then cancel."""
        self._stopping = True
        self._wake.set()
        if self._loop is not None:
            await asyncio.wait([self._loop], timeout=grace)
        await self._owner.aclose()
        if self._client is not None:
            await self._client.aclose()

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                if await self.tick() >= self.settings.concurrency:
                    continue  # a full batch: there may be more due
            except Exception:  # a database blip must not end deliveries for good
                log.exception("webhook look failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.poll)

    async def tick(self) -> int:
        """One look: claim what is due and send it; how many were attempted."""
        async with self.sessions() as s, s.begin():
            jobs = await webhook_deliveries.claim_due(
                s, now=self.clock(), node_id=self.node_id, lease=self.lease,
                limit=self.settings.concurrency,
            )  # fmt: skip
        if jobs:
            await asyncio.gather(*(self._deliver(job) for job in jobs))
        return len(jobs)

    async def _deliver(self, job: Job) -> None:
        assert self._client is not None
        outcome = await post(self._client, job, self.settings.allow_private_targets)
        result = self._result(job, outcome)
        async with self.sessions() as s, s.begin():
            await webhook_deliveries.record(s, job, self.node_id, result)
        self.sent += 1
        given_up = result.next_attempt_at is None and not result.delivered
        where = {"endpoint_id": job.endpoint_id, "delivery_id": job.delivery_id}
        log.info(
            "webhook attempt", extra={
                **where, "event_type": job.event_type, "status_code": outcome.status_code,
                "delivered": result.delivered, "given_up": given_up, "attempt": job.attempts + 1,
            },
        )  # fmt: skip

    def _result(self, job: Job, outcome: PostOutcome) -> AttemptResult:
        now = self.clock()
        next_at: datetime | None = None
        if not outcome.delivered and not outcome.refused:
            wait = backoff(
                job.attempts + 1, self.settings.retry_base, self.settings.retry_max, self.rng
            )
            deadline = job.created_at + timedelta(seconds=self.settings.give_up_after)
            candidate = now + timedelta(seconds=wait)
            next_at = candidate if candidate <= deadline else None
        return AttemptResult(
            at=now, status_code=outcome.status_code, error=outcome.error,
            duration_ms=outcome.duration_ms, next_attempt_at=next_at,
            delivered=outcome.delivered,
        )  # fmt: skip
