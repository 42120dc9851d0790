"""The benchmark harness still works: five calls for four seconds on one and on two workers,
five on the media WebSocket wire, and a small claim run.

Not a performance test: it asserts that every metric was produced (and that the calls
really went through the platform), never how fast anything was.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmarks import run, scheduler


async def test_harness_measures_five_calls_through_the_platform(
    tmp_path: Path, redis_url: str
) -> None:
    # 4 s: the other processes' CPU is read over the window less 1 s, and the fake model's
    # few milliseconds for 5 calls need more than /proc's 10 ms ticks to show (2 s read 0)
    argv = ["--levels", "5", "--seconds", "4", "--warmup", "1", "--no-scheduler", "--logs"]
    argv += [str(tmp_path / "logs"), "--out", str(tmp_path), "--workers", "1,2"]
    args = run.parse_args([*argv, "--redis-url", redis_url, "--compare", ""])
    result = await run.run(args)

    one, two = result["calls"]
    assert (one["workers"], two["workers"]) == (1, 2)
    for level in (one, two):
        platform, load = level["platform"], level["loadgen"]
        assert level["connected"] == 5
        assert platform["attached"] == 5
        assert platform["cpu_ms_per_call_second"] > 0
        assert platform["rss_mb"] > 0
        assert platform["inbound_latency_ms"]["count"] > 0  # caller frames reached the model
        assert platform["commands_delivered"] == 5  # one command per call over the bus
        assert platform["end_reasons"] == {"far_end_hangup": 5}
        assert platform["bridge_outcomes"] == {"completed:caller_hangup": 5}
        assert load["spacing"]["frames"] > 5 * 50  # every call heard the platform for over 1 s
        assert set(load["spacing"]["error_ms"]) == {"p50", "p99", "max", "count"}
        assert level["model_cpu_cores"] > 0
    workers = two["platforms"]
    assert [w["attached"] for w in workers] == [3, 2]  # each worker took its share
    assert all(w["cpu_cores"] > 0 for w in workers)
    assert set(result["sustained_n"]) == {"1", "2"}
    table = run.report.markdown(result)
    assert any(line.startswith("| 1 worker | 5 | ") for line in table.splitlines())
    assert any(line.startswith("| 2 workers | 5 | ") for line in table.splitlines())


async def test_harness_measures_five_calls_on_the_media_websocket_wire(
    tmp_path: Path, redis_url: str
) -> None:
    argv = ["--levels", "5", "--seconds", "4", "--warmup", "1", "--no-scheduler", "--logs"]
    argv += [str(tmp_path / "logs"), "--out", str(tmp_path), "--workers", "1"]
    args = run.parse_args([*argv, "--wire", "websocket", "--redis-url", redis_url, "--compare", ""])
    result = await run.run(args)

    (level,) = result["calls"]
    platform, load = level["platform"], level["loadgen"]
    assert (level["wire"], load["wire"]) == ("websocket", "websocket")
    assert platform["attached"] == 5
    assert platform["inbound_latency_ms"]["count"] > 0  # caller frames reached the model
    assert platform["end_reasons"] == {"far_end_hangup": 5}
    assert load["spacing"] is None  # Asterisk paces this wire
    assert load["playout"]["frames_played"] > 5 * 50  # every call heard replies for over 1 s
    assert load["playout"]["messages_per_call_second"] > 0
    assert "sustained_n" not in result
    assert set(result["sustained_n_websocket"]) == {"1"}
    table = run.report.markdown(result)
    assert any(line.startswith("| 1 worker | 5 | websocket | ") for line in table.splitlines())


def _assert_claims_and_ticks(out: dict[str, Any]) -> None:
    assert out["due"] > 600  # ~20% of the 4,000 waiting tasks are due at NOW
    claim, tick = out["claim"], out["tick"]
    assert (claim["batches"], claim["tasks"], claim["ms"]["count"]) == (3, 150, 3)
    assert (tick["batches"], tick["tasks"], tick["ms"]["count"]) == (3, 150, 3)
    assert claim["per_second"] > 0
    assert len(claim["load_avg"]) == len(tick["load_avg"]) == 2


@pytest.mark.postgres
async def test_scheduler_benchmark_claims_and_ticks_in_batches(postgres_url: str) -> None:
    _assert_claims_and_ticks(
        await scheduler.bench_postgres(postgres_url, pending=4_000, batch=50, batches=3)
    )


async def test_scheduler_benchmark_on_sqlite() -> None:
    _assert_claims_and_ticks(await scheduler.bench_sqlite(pending=4_000, batch=50, batches=3))


def test_only_the_scheduler_part_runs_and_is_written(tmp_path: Path) -> None:
    argv = ["--only", "scheduler", "--pending", "4000", "--batches", "2", "--postgres-url", ""]
    run.main([*argv, "--out", str(tmp_path), "--logs", str(tmp_path / "logs")])

    table = (tmp_path / "latest.md").read_text()
    assert "| sqlite | 4,000 (" in table
    assert "sustained" not in table  # no call level was run
