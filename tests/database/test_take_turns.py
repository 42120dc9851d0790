"""The claim's fairness, as a pure function over already-ordered candidates."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from database.repositories.tasks import Candidate, take_turns


def task(task_id: int, user_id: int, priority: int) -> Candidate:
    return Candidate(id=task_id, user_id=user_id, priority=priority)


def test_higher_priority_first_then_one_per_user_per_turn() -> None:
    ordered = [task(1, 7, 5), task(2, 7, 5), task(3, 7, 5), task(4, 8, 5), task(5, 9, 1)]
    assert [t.id for t in take_turns(ordered, 4, None, {})] == [1, 4, 2, 3]
    assert [t.id for t in take_turns(ordered, 10, None, {})] == [1, 4, 2, 3, 5]


def test_a_user_at_their_cap_is_passed_over() -> None:
    ordered = [task(1, 7, 5), task(2, 7, 5), task(3, 8, 5)]
    assert [t.id for t in take_turns(ordered, 3, 1, {7: 1})] == [3]
    assert [t.id for t in take_turns(ordered, 3, 2, {})] == [1, 3, 2]


@given(
    st.lists(st.tuples(st.integers(1, 4), st.integers(0, 3)), max_size=40),
    st.integers(0, 12),
    st.one_of(st.none(), st.integers(1, 5)),
)
def test_never_more_than_asked_each_task_once_caps_kept_priorities_in_order(
    pairs: list[tuple[int, int]], limit: int, cap: int | None
) -> None:
    ordered = sorted(
        (task(i, user, prio) for i, (user, prio) in enumerate(pairs)),
        key=lambda t: -t.priority,
    )
    chosen = take_turns(ordered, limit, cap, {})
    assert len(chosen) <= limit
    assert len({t.id for t in chosen}) == len(chosen)
    if cap is not None:
        for user in {t.user_id for t in chosen}:
            assert sum(t.user_id == user for t in chosen) <= cap
    assert [t.priority for t in chosen] == sorted((t.priority for t in chosen), reverse=True)
    if cap is None:
        assert len(chosen) == min(limit, len(ordered))
