"""Summarise a py-spy raw (collapsed stacks) profile: where the platform's time goes.

`python -m benchmarks.profile_summary results/logs/profile-500.txt` prints the functions
with the most samples on the stack (inclusive) and at the top of it (self).
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

_LINE = re.compile(r":\d+\)$")


def _name(frame: str) -> str:
    """'send (openai/resources/realtime/realtime.py:411)' without the line number."""
    frame = _LINE.sub(")", frame.strip())
    return frame.replace("/work/main/", "").replace(".venv/lib/python3.11/site-packages/", "")


def summarise(text: str, top: int = 25) -> dict[str, list[tuple[str, float]]]:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_name(f) for f in stack.split(";")]
        total += n
        own[frames[-1]] += n
        for name in set(frames):
            inclusive[name] += n
    share = 100 / max(1, total)
    return {
        "inclusive_pct": [(k, round(v * share, 1)) for k, v in inclusive.most_common(top)],
        "self_pct": [(k, round(v * share, 1)) for k, v in own.most_common(top)],
    }


def main() -> None:
    result = summarise(Path(sys.argv[1]).read_text(), int(sys.argv[2]) if len(sys.argv) > 2 else 25)
    for title, rows in result.items():
        print(f"== {title}")
        for name, pct in rows:
            print(f"{pct:6.1f}%  {name}")


if __name__ == "__main__":
    main()
