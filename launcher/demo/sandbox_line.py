"""The sandbox line: the demo's calls over the real Asterisk 22 sandbox. No sockets here.

Why this line when the machine can run it: the demo then places real SIP calls through
real Asterisk (asterisk/sandbox/sandbox.sh: a Debian sid chroot, which needs root and
debootstrap to build). OpenDeep's AMI client logs into the sandbox's Asterisk and
originates `PJSIP/216<port><number>@loopback`; the call leaves over the loopback trunk
and comes back to the far end, extension 216 (asterisk/sandbox/conf/extensions.conf),
which rings, answers and hands the channel to AudioSocket() towards the demo's callee
server on 127.0.0.1:<port> (callee_server.py), where the same callee scripts as the
simulated line's answer. The agent's keys travel as RFC 4733 DTMF and reach the callee as
AudioSocket DTMF frames (docs/protocols.md, AudioSocket).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

SCENARIO = "216"  # the far-end extension prefix of demo callees
# The sandbox's AMI user, as asterisk/sandbox/conf/manager.conf defines it.
AMI_HOST = "127.0.0.1"
AMI_PORT = 15038
AMI_USERNAME = "opendeep"
AMI_SECRET = "sandbox-secret-1"
NUMBER_HEX_DIGITS = 16  # the UUID's last two groups (4 + 12 hex digits)


class LineMode(StrEnum):
    """`main.py demo --line`: auto picks the sandbox where it can run, else simulated."""

    AUTO = "auto"
    SANDBOX = "sandbox"
    SIMULATED = "simulated"


def channel_template(callee_port: int) -> str:
    """DIAL_CHANNEL_TEMPLATE for the demo on the sandbox: the far end reads the callee
    server's port (5 digits) and then the number from the dialled extension."""
    if not 0 < callee_port < 100_000:
        raise ValueError(f"port {callee_port} does not fit in 5 digits")
    return f"PJSIP/{SCENARIO}{callee_port:05d}{{number}}@loopback"


def number_in_call_id(call_id: uuid.UUID) -> str:
    """The callee's E.164 number that the far end wrote into the UUID's last 16 hex digits,
    zero-padded (`…-0000-442079460101` → `+442079460101`)."""
    digits = call_id.hex[-NUMBER_HEX_DIGITS:].lstrip("0")
    if not digits.isdecimal():
        raise ValueError(f"{call_id} carries no number")
    return "+" + digits


@dataclass(frozen=True)
class Machine:
    """What decides whether this machine can run the sandbox."""

    is_root: bool
    built: bool  # a complete sandbox root exists
    has_debootstrap: bool


@dataclass(frozen=True)
class Choice:
    sandbox: bool
    why: str  # one line for the terminal


def choose(mode: LineMode, machine: Machine) -> Choice:
    """Which line the demo uses. Forcing the sandbox on a machine that cannot run it is
    still tried, so its own error says what is missing."""
    if mode is LineMode.SIMULATED:
        return Choice(False, "--line simulated asked for it")
    if mode is LineMode.SANDBOX:
        return Choice(True, "--line sandbox asked for it")
    if not machine.is_root:
        return Choice(False, "the Asterisk sandbox needs root (chroot and mount)")
    if not machine.built and not machine.has_debootstrap:
        return Choice(False, "the Asterisk sandbox is not built and debootstrap is missing")
    if not machine.built:
        return Choice(True, "root and debootstrap can build it (once, a few minutes)")
    return Choice(True, "it is built and this is root (--line simulated avoids it)")


def sandbox_root(env: dict[str, str], home: Path) -> Path:
    """Where sandbox.sh keeps the root (its OPENDEEP_SANDBOX_ROOT and default)."""
    given = env.get("OPENDEEP_SANDBOX_ROOT")
    return Path(given) if given else home / ".cache" / "opendeep" / "asterisk-root"


def is_built(root: Path) -> bool:
    return (root / ".opendeep-sandbox-complete").is_file()
