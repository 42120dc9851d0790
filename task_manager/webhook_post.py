"""One webhook POST: sign, connect to the checked address, never follow a redirect.

Why its own module: this is where a user-typed URL meets the network. The host is
resolved and every address checked (common/webhook_resolve.py) at each attempt, and the
connection goes to the checked address with the name kept for Host and TLS (SNI and
certificate), so a name re-pointed between check and connect reaches nothing private.
Nothing here logs the URL (it may carry a token) or the secret.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass

import httpx

from common.webhook_resolve import resolve
from common.webhook_signature import HEADER, sign
from common.webhook_targets import Target, TargetRefused, check_addresses, parse_target
from database.repositories.webhook_deliveries import Job

USER_AGENT = "OpenDeep-Webhooks/1"
ERROR_MAX = 300


@dataclass(frozen=True, slots=True)
class PostOutcome:
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def refused(self) -> bool:
        """The target is not allowed: retrying will not help until the operator says so."""
        return self.error is not None and self.error.startswith("refused:")


def _pinned_url(target: Target, address: str) -> str:
    host = f"[{address}]" if ipaddress.ip_address(address).version == 6 else address
    return f"{target.scheme}://{host}:{target.port}{target.path}"


def headers(job: Job, target: Target, timestamp: int) -> dict[str, str]:
    default_port = 443 if target.scheme == "https" else 80
    host = target.host if ":" not in target.host else f"[{target.host}]"
    return {
        "Host": host if target.port == default_port else f"{host}:{target.port}",
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        HEADER: sign(job.secret, job.body.encode(), timestamp),
        "OpenDeep-Event-Id": job.event_id,
        "OpenDeep-Event-Type": job.event_type,
        "OpenDeep-Delivery": str(job.delivery_id),
        "OpenDeep-Attempt": str(job.attempts + 1),
    }


async def post(client: httpx.AsyncClient, job: Job, allow_private: bool) -> PostOutcome:
    """What came back: a status code, or why nothing did (refused, timeout, refused
    connection...). Any status other than 2xx, a 3xx included, is a failure."""
    started = time.monotonic()
    try:
        target = parse_target(job.url)
        addresses = await resolve(target.host, target.port)
        if not addresses:  # perhaps for a moment: tried again, unlike a refused address
            return PostOutcome(None, "the host name does not resolve", _ms(started))
        check_addresses(addresses, allow_private)
        address = addresses[0]
        response = await client.post(
            _pinned_url(target, address),
            content=job.body.encode(),
            headers=headers(job, target, int(time.time())),
            extensions={"sni_hostname": target.host} if target.scheme == "https" else None,
        )
        await response.aclose()
        code, error = response.status_code, None
    except TargetRefused as exc:
        code, error = None, f"refused: {exc}"
    except httpx.HTTPError as exc:
        code, error = None, f"{type(exc).__name__}: {str(exc)[:ERROR_MAX]}"
    return PostOutcome(code, error, _ms(started))


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
