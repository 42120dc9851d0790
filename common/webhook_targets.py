"""Where a webhook may be sent: http(s) URLs whose addresses are public.

Why: an endpoint URL is typed by a user, and the platform posts to it from inside the
operator's network. A URL naming loopback, a private range, link-local (cloud metadata at
169.254.169.254) or any other non-global address would let a user probe or call services
that only the platform can reach. The operator may allow them
(WEBHOOK_ALLOW_PRIVATE_TARGETS) for receivers on their own network. Pure: the addresses
come from common/webhook_resolve.py, checked at creation and again at each delivery.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL = 2048


class TargetRefused(ValueError):
    """This URL may not receive webhooks; the message says why, for the person."""


@dataclass(frozen=True, slots=True)
class Target:
    scheme: str
    host: str  # a name or an address literal, without brackets
    port: int
    path: str  # with the query, as sent


def parse_target(url: str) -> Target:
    """An http(s) URL with a host and no credentials, or TargetRefused."""
    if len(url) > MAX_URL:
        raise TargetRefused(f"the URL is longer than {MAX_URL} characters")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise TargetRefused("the URL cannot be parsed") from None
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("the URL must start with http:// or https://")
    if not parts.hostname:
        raise TargetRefused("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("the URL must not carry a user name or password")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    default = 443 if parts.scheme == "https" else 80
    return Target(parts.scheme, parts.hostname, port or default, path)


def refusal(address: str) -> str | None:
    """Why this address may not be a webhook target, or None when it is public."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast or ip.is_unspecified:
        return "not a unicast address"
    if ip.is_private or not ip.is_global:
        return "a private or reserved address"
    return None


def check_addresses(addresses: list[str], allow_private: bool) -> None:
    """TargetRefused if any address the name resolves to is not public (one private
    answer is enough to refuse: the connection could use it)."""
    if not addresses:
        raise TargetRefused("the host name does not resolve")
    if allow_private:
        return
    for address in addresses:
        why = refusal(address)
        if why is not None:
            raise TargetRefused(
                f"the host resolves to {why}; the operator has not allowed private targets"
            )
