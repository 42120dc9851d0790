"""The AMI wire format: header blocks to and from bytes, with no I/O.

Why its own module: the fake AMI server in tests and the header parsing in `ami_events`
share these few rules (docs/protocols.md, Wire format and header case): headers are `Key:
Value` lines, a blank line ends a message, keys are case-insensitive and may repeat
(`Variable`, `ChanVariable`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

EOL = "\r\n"
HeaderValue = str | Sequence[str]
Headers = Mapping[str, HeaderValue]


def header_values(value: HeaderValue) -> list[str]:
    """Every value of a header that may repeat, as a list."""
    return [value] if isinstance(value, str) else list(value)


def encode(headers: Mapping[str, HeaderValue] | Iterable[tuple[str, str]]) -> bytes:
    """One AMI message; a list value becomes one header line per item."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    lines: list[str] = []
    for key, value in items:
        lines += [f"{key}: {v}" for v in header_values(value)]
    return (EOL.join(lines) + EOL + EOL).encode()


def decode(block: str) -> dict[str, HeaderValue]:
    """One message's header block; repeated keys (any case) become lists, order kept."""
    out: dict[str, HeaderValue] = {}
    spelled: dict[str, str] = {}
    for line in block.split("\n"):
        key, sep, value = line.rstrip("\r").partition(": ")
        if not sep:
            continue
        name = spelled.setdefault(key.lower(), key)
        if name in out:
            out[name] = [*header_values(out[name]), value]
        else:
            out[name] = value
    return out


def split_messages(buffer: str) -> tuple[list[str], str]:
    """Complete message blocks in `buffer`, and the incomplete rest to keep for later."""
    parts = re.split(r"\r?\n\r?\n", buffer)
    rest = parts.pop()
    return [p for p in parts if p.strip()], rest
