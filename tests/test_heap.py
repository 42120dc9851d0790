"""The collector settings a started platform runs with (launcher/heap.py), checked in a
fresh interpreter so this test process's own collector is left alone."""

from __future__ import annotations

import subprocess
import sys

from tests.support.processes import ROOT

PROBE = """
import gc
from launcher.heap import OLDER_THRESHOLDS, YOUNG_THRESHOLD, settle_heap
import launcher.platform  # what main.py run has imported by the time it settles
before = gc.get_freeze_count()
settle_heap()
assert before == 0, before
assert gc.get_freeze_count() > 100_000, gc.get_freeze_count()
assert gc.get_threshold() == (YOUNG_THRESHOLD, *OLDER_THRESHOLDS), gc.get_threshold()
print("ok")
"""


def test_settling_freezes_what_start_up_built_and_makes_collections_rarer() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
