"""Component health: each service reports ok/degraded with a reason; /readyz shows them all.

Why a registry of callables: /readyz (web_interface) reports on services it does not own,
such as whether AMI is logged in; the platform (launcher/platform.py) registers each
service's check here, so the web app depends on this registry only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ComponentHealth:
    ok: bool
    detail: str = ""
    required: bool = True  # a failing optional component degrades but does not fail readiness


HealthCheck = Callable[[], ComponentHealth | Awaitable[ComponentHealth]]


class HealthRegistry:
    def __init__(self) -> None:
        self._checks: dict[str, HealthCheck] = {}

    def register(self, name: str, check: HealthCheck) -> None:
        self._checks[name] = check

    async def collect(self, timeout: float = 2.0) -> dict[str, ComponentHealth]:
        return {name: await self._run(check, timeout) for name, check in self._checks.items()}

    @staticmethod
    async def _run(check: HealthCheck, timeout: float) -> ComponentHealth:
        try:
            result = check()
            if isinstance(result, ComponentHealth):
                return result
            return await asyncio.wait_for(result, timeout)
        except TimeoutError:
            return ComponentHealth(False, f"health check timed out after {timeout:.0f}s")
        except Exception as exc:  # a broken check must not break /readyz
            return ComponentHealth(False, f"health check failed: {type(exc).__name__}")
