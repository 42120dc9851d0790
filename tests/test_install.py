"""The environment the suite runs in is exactly uv.lock: names and versions, both ways.

Why: a release once broke when an unlocked transitive dependency moved. `make install`
syncs the venv from the lock (`uv sync --frozen`); this checks that nothing else crept in
and nothing of the lock is missing, using uv's own reading of the lock for this platform.
"""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker
from packaging.utils import canonicalize_name

from tests.support.services import unavailable

ROOT = Path(__file__).resolve().parents[1]
UV = ROOT / ".tools" / "bin" / "uv"
PROJECT = "opendeep"


def locked_for_this_platform() -> dict[str, str]:
    """`uv export` of the default groups (what `make install` syncs), markers evaluated."""
    out = subprocess.run(
        [str(UV), "export", "--frozen", "--no-hashes", "--no-header", "--no-annotate",
         "--no-emit-project"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    locked: dict[str, str] = {}
    for line in out.splitlines():
        requirement, _, marker = line.partition(";")
        if not requirement.strip() or requirement.startswith(("#", "-")):
            continue
        if marker.strip() and not Marker(marker.strip()).evaluate():
            continue
        name, _, version = requirement.strip().partition("==")
        locked[canonicalize_name(name)] = version
    return locked


def installed() -> dict[str, str]:
    found = {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}
    found.pop(PROJECT, None)
    return found


def test_the_installed_packages_are_exactly_the_lock() -> None:
    if not UV.exists():
        unavailable("uv (.tools/bin/uv)", "run `make install`, which installs it and the lock")
    locked, present = locked_for_this_platform(), installed()
    assert locked, "uv export listed nothing"
    missing = {n: v for n, v in locked.items() if present.get(n) != v}
    extra = {n: v for n, v in present.items() if n not in locked}
    assert not missing, f"locked but not installed at that version: {missing} (make install)"
    assert not extra, f"installed but not in uv.lock: {extra} (make install)"
