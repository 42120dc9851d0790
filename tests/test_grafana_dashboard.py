"""The Grafana dashboard in docs/grafana/ reads only metrics a running platform serves.

Why: a dashboard whose queries name a metric that was renamed shows "No data" and looks
like a quiet system; this keeps the file and /metrics in step.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

from launcher.platform import build_platform
from tests.support.platform_settings import platform_settings

DASHBOARD = Path(__file__).resolve().parents[1] / "docs" / "grafana" / "opendeep-dashboard.json"
METRIC = re.compile(r"\bopendeep_[a-z_]+")
SUFFIXES = ("", "_total", "_bucket", "_sum", "_count")


def queried_metrics() -> set[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    names = set()
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        for target in panel["targets"]:
            names.update(METRIC.findall(target["expr"]))
    return names


def served_metrics(text: str) -> set[str]:
    """Every name a query may use: the families of `# TYPE` lines with their suffixes."""
    families = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    return {family.removesuffix("_total") + s for family in families for s in SUFFIXES} | {
        family + s for family in families for s in SUFFIXES
    }


async def test_every_metric_the_dashboard_queries_is_served_by_the_platform(
    tmp_path: Path,
) -> None:
    queried = queried_metrics()
    assert {"opendeep_calls_active", "opendeep_turn_latency_seconds_bucket"} <= queried
    assert any("hold" in name for name in queried)
    async with build_platform(platform_settings(tmp_path)) as platform:
        url = f"http://127.0.0.1:{platform.web_port}/metrics"
        async with httpx.AsyncClient() as client:
            response = await client.get(url)
    assert response.status_code == 200
    assert queried - served_metrics(response.text) == set()
