"""The benchmark's pure parts: spreading calls over workers, adding up their numbers, the
pass/fail rules, the comparison against an older revision and the tables written; and the
old revision's checkout (a real `git worktree`, removed afterwards)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from benchmarks import compare, old_tree, report, run
from benchmarks.box import Tree
from benchmarks.children import ROOT
from benchmarks.platform_side import arrivals
from benchmarks.playout import Playout, playout_report
from benchmarks.verdict import clearly_failed, largest_sustained, passed
from benchmarks.workers import common_window, merge, split_calls, spread


def _summary(p50: float, p99: float, peak: float, count: int) -> dict[str, float]:
    return {"p50": p50, "p99": p99, "max": peak, "count": count}


def _platform(attached: int, cores: float, **over: Any) -> dict[str, Any]:
    part: dict[str, Any] = {
        "window": [10.0, 22.0],
        "attached": attached,
        "cpu_cores": cores,
        "cpu_ms_per_call_second": round(cores * 1000 / attached, 3),
        "rss_mb": 100.0,
        "rss_kb_per_call": 300.0,
        "inbound_latency_ms": _summary(3.0, 20.0, 30.0, 1000),
        "inbound_processing_ms": _summary(1.0, 2.0, 3.0, 500),
        "command_latency_ms": _summary(0.5, 1.0, 2.0, attached),
        "loop_lag_ms": _summary(0.2, 1.0, 4.0, 100),
        "inbound_dropped": 0,
        "end_reasons": {"far_end_hangup": attached},
        "bridge_outcomes": {"completed:caller_hangup": attached},
        "commands_delivered": attached,
        "sessions_active": 0,
    }
    return {**part, **over}


def _level(n: int = 100, workers: int = 1, p99: float = 2.0, **over: Any) -> dict[str, Any]:
    parts = [_platform(c, 0.3 * c / 50) for c in split_calls(n, workers)]
    level: dict[str, Any] = {
        "n": n,
        "workers": workers,
        "tree": "new",
        "platform": merge(parts),
        "platforms": parts if workers > 1 else [],
        "loadgen": {
            "spacing": {
                "frames": 50_000,
                "late_frames": 0,
                "dropped_frames": 0,
                "gap_ms": _summary(20.0, 22.0, 25.0, 49_000),
                "error_ms": _summary(0.1, p99, 5.0, 49_000),
            },
            "closed_early": 0,
            "calls_without_frames": 0,
        },
        "model_cpu_cores": 0.17,
        "loadgen_cpu_cores": 0.16,
        "machine_busy_cores": 1.2,
    }
    level.update(over)
    level["passed"] = passed(level)
    return level


# Spreading calls over workers


def test_calls_are_split_as_evenly_as_whole_calls_allow() -> None:
    assert split_calls(200, 2) == [100, 100]
    assert split_calls(5, 2) == [3, 2]
    assert split_calls(1, 3) == [1, 0, 0]
    assert split_calls(7, 1) == [7]
    with pytest.raises(ValueError, match="at least one worker"):
        split_calls(10, 0)


def test_each_call_is_dialled_on_its_workers_port_and_the_workers_alternate() -> None:
    targets = spread([["a1", "a2", "a3"], ["b1", "b2"]], [4000, 4001])

    assert targets == [(4000, "a1"), (4001, "b1"), (4000, "a2"), (4001, "b2"), (4000, "a3")]
    with pytest.raises(ValueError, match="one list of calls per worker port"):
        spread([["a1"]], [4000, 4001])


def test_the_workers_common_window_is_where_they_all_measured() -> None:
    assert common_window([[10.0, 22.0], [10.5, 21.8]]) == [10.5, 21.8]


# Adding up the workers


def test_one_worker_is_reported_as_it_measured_itself() -> None:
    part = _platform(100, 0.65)
    assert merge([part]) == part


def test_two_workers_add_up_to_one_box() -> None:
    slow = _platform(60, 0.6, rss_kb_per_call=400.0, inbound_dropped=2)
    fast = _platform(40, 0.2, loop_lag_ms=_summary(0.1, 9.0, 12.0, 80))
    fast["end_reasons"] = {"far_end_hangup": 39, "timeout": 1}

    box = merge([slow, fast])

    assert box["attached"] == 100
    assert box["cpu_cores"] == pytest.approx(0.8)
    assert box["cpu_ms_per_call_second"] == pytest.approx(8.0)  # 0.8 cores over 100 calls
    assert box["rss_kb_per_call"] == pytest.approx(360.0)  # (60 * 400 + 40 * 300) / 100
    assert box["rss_mb"] == pytest.approx(200.0)
    assert box["inbound_dropped"] == 2
    assert box["loop_lag_ms"] == _summary(0.2, 9.0, 12.0, 180)  # the worst worker, all counts
    assert box["end_reasons"] == {"far_end_hangup": 99, "timeout": 1}
    assert box["commands_delivered"] == 100


# The rules


def test_a_level_is_sustained_only_when_every_call_kept_its_pace() -> None:
    assert passed(_level())
    assert not passed(_level(p99=5.0))
    assert not passed(_level(platform=_platform(99, 0.6)))
    dropped = _level()
    dropped["loadgen"]["spacing"]["dropped_frames"] = 1
    assert not passed(dropped)
    late = _level()
    late["loadgen"]["spacing"]["late_frames"] = 1
    assert not passed(late)
    inbound = _level(platform=_platform(100, 0.6, inbound_dropped=1))
    assert not passed(inbound)
    closed = _level()
    closed["loadgen"]["closed_early"] = 1
    assert not passed(closed)


def test_only_a_level_far_past_the_bound_stops_the_run() -> None:
    assert not clearly_failed(_level(p99=19.0))
    assert clearly_failed(_level(p99=21.0))
    assert clearly_failed(_level(platform=_platform(90, 0.6)))
    many_dropped = _level()
    many_dropped["loadgen"]["spacing"]["dropped_frames"] = 300  # 0.6% of 50,000
    assert clearly_failed(many_dropped)


def test_the_largest_sustained_level_is_per_worker_count() -> None:
    levels = [
        _level(100, 1),
        _level(200, 1, p99=9.0),
        _level(100, 2),
        _level(200, 2),
        _level(300, 2, p99=7.0),
    ]
    assert largest_sustained(levels, 1) == 100
    assert largest_sustained(levels, 2) == 200
    assert largest_sustained(levels, 3) == 0
    lucky = [_level(100, 1), _level(200, 1, p99=9.0), _level(250, 1)]
    assert largest_sustained(lucky, 1) == 100  # 250 passed above a failed 200: not capacity


def test_the_table_groups_the_levels_by_worker_count() -> None:
    measured = [_level(50, 1), _level(50, 2), _level(100, 1), _level(100, 2)]
    order = [(lv["workers"], lv["n"]) for lv in run.by_workers(measured)]
    assert order == [(1, 50), (1, 100), (2, 50), (2, 100)]


# Comparing with an older revision


def test_ratios_are_new_over_old_and_none_without_an_old_value() -> None:
    assert compare.ratio(3.0, 4.0) == 0.75
    assert compare.ratio(3.0, 0.0) is None


def test_each_level_on_both_trees_becomes_one_row() -> None:
    old = [_level(100, 1), _level(200, 1, p99=9.0), _level(100, 2)]
    new = [
        _level(100, 1, platform=_platform(100, 0.5, rss_kb_per_call=270.0)),
        _level(200, 1, p99=3.0),
        _level(300, 1, p99=30.0),  # the old tree had already drowned: no row
    ]

    rows = compare.pair(old, new)

    assert [(r["workers"], r["n"]) for r in rows] == [(1, 100), (1, 200)]
    first, second = rows
    assert first["cpu_per_call_second"] == pytest.approx(5.0 / 6.0, abs=0.001)
    assert first["rss_per_call"] == 0.9
    assert second["pacing"] == {"old": 9.0, "new": 3.0}
    assert second["sustained"] == {"old": False, "new": True}


def test_levels_pair_by_wire_and_a_repeated_level_pairs_in_order() -> None:
    def at(cores: float, wire: str = "audiosocket") -> dict[str, Any]:
        if wire == "websocket":
            return _ws_level(100, platform=_platform(100, cores))
        return _level(100, 1, platform=_platform(100, cores))

    old = [at(0.4), at(0.2, "websocket"), at(0.5)]
    new = [at(0.2), at(0.2, "websocket"), at(0.4), at(0.3, "websocket")]

    rows = compare.pair(old, new)

    assert [(r["wire"], r["cpu_per_call_second"]) for r in rows] == [
        ("audiosocket", 0.5),  # the first 100 against the first
        ("websocket", 1.0),  # never against an AudioSocket level
        ("audiosocket", 0.8),  # the repeat against the repeat
    ]  # the second WebSocket 100 has no old twin: no row
    table = "\n".join(
        compare.markdown({"rev": "r", "commit": "c", "subject": "s", "rows": rows,
                          "summary": compare.summary(rows)})
    )  # fmt: skip
    assert "| 1 | 100 | websocket | 1.00 | 1.00 | 0 → 0 | yes / yes |" in table


def test_a_tree_before_chan_websocket_is_measured_on_audiosocket_only(tmp_path: Path) -> None:
    assert Tree("new").speaks("websocket")
    assert Tree("old", tmp_path).speaks("audiosocket")
    assert not Tree("old", tmp_path).speaks("websocket")


def test_the_summary_counts_only_levels_both_trees_sustained() -> None:
    rows = [
        {"cpu_per_call_second": 0.5, "rss_per_call": 1.0, "sustained": {"old": True, "new": True}},
        {"cpu_per_call_second": 2.0, "rss_per_call": 1.0, "sustained": {"old": True, "new": True}},
        {"cpu_per_call_second": 9.0, "rss_per_call": 9.0, "sustained": {"old": False, "new": True}},
    ]
    assert compare.summary(rows) == {"levels": 2, "cpu_per_call_second": 1.0, "rss_per_call": 1.0}
    assert compare.geometric_mean([None]) is None


# The tables


def _result(levels: list[dict[str, Any]], sustained: Any) -> dict[str, Any]:
    return {
        "machine": {
            "cores": 2,
            "cpu_model": "AMD EPYC",
            "python": "3.11.7",
            "load_avg_before": [1.0],
            "load_avg_after": [1.2],
        },
        "started": "2026-12-06 07:00:00",
        "settings": {"loop": "uvloop", "seconds": 12.0, "warmup": 3.0, "redis": True},
        "calls": levels,
        "sustained_n": sustained,
    }


def test_the_table_marks_worker_rows_and_shows_each_workers_cores() -> None:
    levels = [_level(100, 1), _level(200, 2)]
    result = _result(levels, {"1": 100, "2": 200})
    old = [_level(100, 1, platform=_platform(100, 1.2)), _level(200, 2)]
    rows = compare.pair(old, levels)
    result["compare"] = {
        "rev": "HEAD~1",
        "commit": "0123456789abcdef",
        "subject": "Cheaper frames",
        "rows": rows,
        "summary": compare.summary(rows),
    }

    lines = report.markdown(result).splitlines()

    assert "| 1 worker | 100 | audiosocket | yes | 0.60 | 6.00 | 300 |" in "\n".join(lines)
    assert any(
        line.startswith("| 2 workers | 200 | audiosocket | yes | 1.20 (0.60 + 0.60) | 6.00 |")
        for line in lines
    )
    assert any(line.endswith("| 0.17 / 0.16 / 1.20 |") for line in lines)  # the harness's cores
    assert any(line.endswith(": 1 worker **100**, 2 workers **200**.") for line in lines)
    assert any(line.startswith("Against HEAD~1 (0123456789 Cheaper frames)") for line in lines)
    assert "| 1 | 100 | audiosocket | 0.50 | 1.00 | 2.00 → 2.00 | yes / yes |" in lines
    assert "| 2 | 200 | audiosocket | 1.00 | 1.00 | 2.00 → 2.00 | yes / yes |" in lines
    assert lines[-1].startswith("Over the 2 levels both sustained (geometric mean): CPU per")


def test_results_from_before_workers_still_render() -> None:
    level = _level(100, 1)
    del level["workers"]
    lines = report.markdown(_result([level], 100)).splitlines()

    assert any(line.startswith("| 1 worker | 100 | audiosocket | yes |") for line in lines)
    assert lines[-1].endswith("1 worker **100**.")


# The media WebSocket wire: the emulated playout queue, its verdict, its rows


def _ticks(queue: Playout, start: int, count: int) -> None:
    for k in range(start, start + count):
        queue.tick(k * 0.020)


def test_a_reply_that_runs_dry_and_resumes_soon_is_one_underrun() -> None:
    queue = Playout()
    queue.audio(0.0, 320 * 5)  # a reply's first chunk: meets an empty queue, no lead
    _ticks(queue, 0, 3)
    queue.audio(0.06, 320 * 2)  # mid-reply, 2 frames still queued: 40 ms lead
    _ticks(queue, 3, 6)  # plays 4 frames, then runs dry at tick 7 (0.14 s)
    assert len(queue.played) == 7
    queue.audio(0.30, 320 * 5)  # 160 ms later: the reply was interrupted
    _ticks(queue, 15, 10)  # plays 5, then silence (this reply ended)
    assert list(queue.underruns) == [pytest.approx(0.14)]
    assert list(queue.lead_ms) == [40.0]
    queue.audio(1.0, 320)  # 0.6 s after the queue emptied: a new reply, no underrun
    assert len(queue.underruns) == 1


def test_a_flush_and_partial_chunks_are_no_underrun() -> None:
    queue = Playout()
    queue.audio(0.0, 320 * 3)
    _ticks(queue, 0, 2)
    queue.flush()  # barge-in: the reply is cut on purpose
    assert queue.queued == 0
    _ticks(queue, 2, 2)
    queue.audio(0.1, 160)  # half a frame is not yet playable
    queue.tick(0.12)
    queue.audio(0.13, 160)
    assert queue.queued == 1
    assert len(queue.underruns) == 0


def test_a_flush_of_an_empty_queue_leaves_an_open_gap_an_underrun() -> None:
    """The platform flushes a quiet call's silence before speech; if the queue had run
    dry mid-reply, that flush cut nothing and the gap is still an underrun."""
    queue = Playout()
    queue.audio(0.0, 320 * 3)
    _ticks(queue, 0, 4)  # runs dry at tick 3 (0.06 s)
    queue.flush()
    queue.audio(0.25, 320 * 5)
    assert list(queue.underruns) == [pytest.approx(0.06)]


def test_the_playout_report_counts_inside_the_window() -> None:
    queue = Playout()
    queue.audio(0.0, 320 * 100)
    _ticks(queue, 0, 25)
    queue.audio(0.5, 320)  # lead: 75 queued frames ahead, 1500 ms
    _ticks(queue, 25, 76)  # plays 2.02 s in all
    out = playout_report([queue, Playout()], [[0.0, 0.5, 5.0], []], (0.0, 1.0))
    assert out["frames_played"] == 51  # ticks at 0.00 .. 1.00
    assert out["underruns"] == 0
    assert out["lead_ms"] == {"p50": 1500.0, "min": 1500.0, "count": 1}
    assert out["messages_per_call_second"] == 1.0  # 2 messages over 2 call-seconds


def _ws_level(n: int = 100, underruns: int = 0, lag: float = 1.0, **over: Any) -> dict[str, Any]:
    """A media WebSocket level: `_level` with the playout report instead of spacing."""
    loadgen = {
        "wire": "websocket",
        "spacing": None,
        "playout": {
            "frames_played": 40_000,
            "underruns": underruns,
            "lead_ms": {"p50": 900.0, "min": 20.0, "count": 300},
            "messages_per_call_second": 1.5,
        },
        "closed_early": 0,
        "calls_without_frames": 0,
    }
    platform = _platform(n, 0.3 * n / 100, loop_lag_ms=_summary(0.2, lag, 9, 5))
    return _level(n, 1, **{"platform": platform, "wire": "websocket", "loadgen": loadgen, **over})


def test_a_websocket_level_is_sustained_without_underruns_and_with_a_prompt_loop() -> None:
    assert passed(_ws_level())
    assert not passed(_ws_level(underruns=1))
    assert passed(_ws_level(lag=19.0))  # Asterisk paces: lag under a frame is heard by nobody
    assert not passed(_ws_level(lag=20.0))
    dropped = _ws_level()
    dropped["platform"]["inbound_dropped"] = 1
    assert not passed(dropped)
    assert not clearly_failed(_ws_level(underruns=200, lag=79.0))
    assert clearly_failed(_ws_level(underruns=201))  # over 0.5% of the frames played
    assert clearly_failed(_ws_level(lag=81.0))
    levels = [_level(200, 1), _ws_level(100), _ws_level(200, underruns=3)]
    assert largest_sustained(levels, 1) == 200
    assert largest_sustained(levels, 1, "websocket") == 100


def test_websocket_rows_say_the_wire_and_leave_the_spacing_out() -> None:
    levels = run.by_workers([_ws_level(100), _level(100, 1)])
    assert [lv.get("wire", "audiosocket") for lv in levels] == ["audiosocket", "websocket"]
    result = _result(levels, {"1": 100})
    result["sustained_n_websocket"] = {"1": 100}
    result["wires"] = compare.wire_pair(levels)

    lines = report.markdown(result).splitlines()

    row = next(line for line in lines if line.startswith("| 1 worker | 100 | websocket | yes |"))
    assert "| - | - | - | 0 | 1.0 | 0 / 900 / 20 / 1.50 |" in row
    assert any(line.startswith("Sustained: on AudioSocket") for line in lines)
    assert any(
        line.endswith(
            "on the media WebSocket (no underrun, no inbound frame dropped, "
            "loop lag p99 < 20 ms): 1 worker **100**."
        )
        for line in lines
    )
    assert "| 1 | 100 | 0.50 | 1.00 | yes / yes |" in lines


def test_the_wires_are_parsed_and_checked(capsys: pytest.CaptureFixture[str]) -> None:
    assert run.parse_args([]).wire == ["audiosocket"]
    assert run.parse_args(["--wire", "audiosocket,websocket"]).wire == ["audiosocket", "websocket"]
    with pytest.raises(SystemExit):
        run.parse_args(["--wire", "sip"])
    assert "wires are audiosocket, websocket" in capsys.readouterr().err


def test_more_than_one_worker_needs_redis(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run.parse_args(["--workers", "1,2", "--redis-url", ""])
    assert "--workers above 1 needs --redis-url" in capsys.readouterr().err
    assert run.parse_args(["--workers", "1", "--redis-url", ""]).workers == [1]


# The old revision's checkout


def _worktrees() -> str:
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "list"], capture_output=True, text=True, check=True
    )
    return listed.stdout


def test_the_old_tree_runs_this_trees_harness_and_is_removed_afterwards() -> None:
    tree = old_tree.checkout("HEAD")
    try:
        assert tree.root.is_dir()
        assert str(tree.root) in _worktrees()
        ours = (ROOT / "benchmarks" / "platform_side.py").read_text()
        assert (tree.root / "benchmarks" / "platform_side.py").read_text() == ours
        assert not (tree.root / "benchmarks" / "results").exists()
    finally:
        tree.remove()
    assert not tree.root.exists()
    assert str(tree.root) not in _worktrees()


def test_an_unknown_revision_is_refused() -> None:
    with pytest.raises(old_tree.CompareError, match="no such revision"):
        old_tree.checkout("no-such-branch-anywhere")


def test_a_revision_older_than_the_harness_needs_is_refused_with_the_reason() -> None:
    added = subprocess.run(
        ["git", "-C", str(ROOT), "log", "--diff-filter=A", "--format=%H", "--",
         "launcher/supervisor.py"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    before = f"{added[-1]}~1"  # the commit before the supervisor (and worker_env) existed

    with pytest.raises(old_tree.CompareError, match="cannot drive") as refused:
        old_tree.checkout(before).remove()  # removed if wrongly accepted: nothing left behind
    # What is missing first depends on the import order (and on what the venv's editable
    # install would have filled in); either way the reason is an import that failed.
    assert re.search(r"\((ModuleNotFoundError|ImportError): ", str(refused.value))
    assert not any(
        Path(line.split()[0]).name.startswith("opendeep-compare-")
        for line in _worktrees().splitlines()
    )


def test_gc_pauses_are_counted_only_in_the_window_and_merged_worst_first() -> None:
    from benchmarks.platform_side import GcPauses

    pauses = GcPauses()
    pauses("start", {"generation": 0})
    pauses("stop", {"generation": 0})  # before the window: not counted
    pauses.active = True
    for generation in (0, 0, 1):
        pauses("start", {"generation": generation})
        pauses("stop", {"generation": generation})
    seen = pauses.report()
    assert seen["collections"] == [2, 1, 0]
    assert seen["longest_ms"][2] == 0.0
    one = _platform(50, 0.2, gc={"collections": [3, 1, 0], "longest_ms": [2.0, 30.0, 0.0]})
    two = _platform(50, 0.2, gc={"collections": [1, 0, 1], "longest_ms": [9.0, 0.0, 41.0]})
    assert merge([one, two])["gc"] == {"collections": [4, 1, 1], "longest_ms": [9.0, 30.0, 41.0]}
    assert "gc" not in merge([one, _platform(50, 0.2)])  # an old tree reports none
    line = report.level_line(_level(100, 2, platform=merge([one, two])))
    assert line.endswith("gc2=1 gc max ms (0/1/2)=9/30/41")


def test_frames_read_together_are_dated_back_to_when_they_arrived() -> None:
    """A batched read hands over 5 frames at once; the load generator sent them 20 ms
    apart, so the first of them waited 80 ms more than the last (counted, not hidden)."""
    read = [1.0, 1.0001, 1.0002, 1.0003, 1.0004]  # one read of 5
    alone = [1.1, 1.12]  # one frame per read
    got = arrivals(read + alone)
    assert got[:5] == pytest.approx([0.9204, 0.9404, 0.9604, 0.9804, 1.0004])
    assert got[5:] == alone
