"""Who may see /metrics and the details of /readyz: this host, or a holder of the ops token.

Why: component details name hosts, versions and errors, and metrics describe the load;
both help an attacker and mean nothing to a person. Everyone else gets /readyz's plain
status (for load balancers) and /healthz, which stays open. "This host" is a loopback
client that came without X-Forwarded-For/Forwarded: behind a proxy on the same host every
client looks like loopback, and a proxy adds one of those headers (see WEB_OPS_TOKEN and
WEB_FORWARDED_ALLOW_IPS).
"""

from __future__ import annotations

import hmac
from ipaddress import ip_address

from fastapi import Request

FORWARDING_HEADERS = ("x-forwarded-for", "forwarded")


def may_see_ops(request: Request, ops_token: str | None) -> bool:
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if ops_token and scheme.lower() == "bearer":
        return hmac.compare_digest(presented.strip().encode(), ops_token.encode())
    if any(name in request.headers for name in FORWARDING_HEADERS):
        return False
    return _loopback(request.client.host if request.client else "")


def _loopback(host: str) -> bool:
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False
