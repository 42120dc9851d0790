"""LogThrottle: one line per kind per interval, and no event is lost from the counts."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from common.log_throttle import LogThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_is_one_line_then_one_a_second_with_the_count_held_back() -> None:
    clock = Clock()
    throttle = LogThrottle(every=1.0, clock=clock)
    assert throttle.due("unknown") == 1
    assert [throttle.due("unknown") for _ in range(99)] == [0] * 99
    assert throttle.due("other") == 1  # each kind has its own line
    clock.now = 1.0
    assert throttle.due("unknown") == 100  # the 99 held back and this one


@given(st.lists(st.tuples(st.floats(0, 5), st.sampled_from("ab")), max_size=300))
def test_lines_are_a_second_apart_and_their_counts_add_up(events: list[tuple[float, str]]) -> None:
    clock = Clock()
    throttle = LogThrottle(every=1.0, clock=clock)
    lines: dict[str, list[tuple[int, float, int]]] = {"a": [], "b": []}
    for index, (step, kind) in enumerate(events):
        clock.now += step
        if count := throttle.due(kind):
            lines[kind].append((index, clock.now, count))
    for kind, logged in lines.items():
        times = [at for _, at, _ in logged]
        assert all(later - earlier >= 1.0 for earlier, later in itertools.pairwise(times))
        # each line stands for exactly the events of its kind since the line before it
        previous = -1
        for index, _, count in logged:
            assert count == sum(1 for _, k in events[previous + 1 : index + 1] if k == kind)
            previous = index
