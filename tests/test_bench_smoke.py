"""The benchmark harness still works: five calls for two seconds, and a small claim run.

Not a performance test: it asserts that every metric was produced (and that the calls
really went through the platform), never how fast anything was.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import run, scheduler


async def test_harness_measures_five_calls_through_the_platform(tmp_path: Path) -> None:
    argv = ["--levels", "5", "--seconds", "2", "--warmup", "1", "--no-scheduler", "--logs"]
    args = run.parse_args([*argv, str(tmp_path / "logs"), "--out", str(tmp_path)])
    result = await run.run(args)

    (level,) = result["calls"]
    platform, load = level["platform"], level["loadgen"]
    assert level["connected"] == 5
    assert platform["attached"] == 5
    assert platform["cpu_ms_per_call_second"] > 0
    assert platform["rss_mb"] > 0
    assert platform["inbound_latency_ms"]["count"] > 0  # caller frames reached the model
    assert platform["commands_delivered"] == 5  # one command per call over the bus
    assert platform["end_reasons"] == {"far_end_hangup": 5}
    assert platform["bridge_outcomes"] == {"completed:caller_hangup": 5}
    assert load["spacing"]["frames"] > 5 * 50  # every call heard the platform for 2 s
    assert set(load["spacing"]["error_ms"]) == {"p50", "p99", "max", "count"}
    assert level["model_cpu_cores"] > 0
    table = run.report.markdown(result)
    assert any(line.startswith("| 5 | ") for line in table.splitlines())


@pytest.mark.postgres
async def test_scheduler_benchmark_claims_in_batches(postgres_url: str) -> None:
    out = await scheduler.bench_postgres(postgres_url, pending=120, batch=50, batches=5)
    assert out["batches"] == 3  # 50 + 50 + 20: the last, short batch ends the run
    assert out["claimed"] == 120
    assert out["claim_ms"]["count"] == 3
    assert out["claims_per_second"] > 0


async def test_scheduler_benchmark_on_sqlite() -> None:
    out = await scheduler.bench_sqlite(pending=120, batch=50, batches=5)
    assert out["batches"] == 3
    assert out["claims_per_second"] > 0
