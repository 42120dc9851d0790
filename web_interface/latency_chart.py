"""A small inline SVG bar chart of response latency per turn: no JavaScript, no library."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT, GAP = 320, 80, 2


def latency_svg(values: Sequence[object]) -> Markup | None:
    """None when there is nothing to draw; values that are not numbers are skipped."""
    numbers = [float(v) for v in values if isinstance(v, int | float) and v >= 0]
    if not numbers:
        return None
    top = max(numbers) or 1.0
    bar = max(1.0, WIDTH / len(numbers) - GAP)
    bars = []
    for i, value in enumerate(numbers):
        h = max(1.0, value / top * (HEIGHT - 12))
        x = i * (bar + GAP)
        bars.append(
            f'<rect x="{x:.1f}" y="{HEIGHT - h:.1f}" width="{bar:.1f}" height="{h:.1f}">'
            f"<title>turn {i + 1}: {value:.0f} ms</title></rect>"
        )
    label = escape(f"Latency per turn, highest {top:.0f} ms")
    return Markup(
        f'<svg class="latency" role="img" aria-label="{label}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}">{"".join(bars)}</svg>'
    )
