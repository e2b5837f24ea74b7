"""The services' view of a load test (loadtest/server_view.py): against compose's Prometheus, make
loadtest prints and saves p95 per route as the services measured it, beside Locust's, and the peak
of pool waiters. (Without a Prometheus the run goes on as before: loadtest/tests/test_runs.py.)"""

import csv
import json
import os
from pathlib import Path

import pytest

from loadtest import server_view
from loadtest.routes import ROUTES
from loadtest.tests.test_runs import make_loadtest


def test_every_http_route_of_the_scenarios_names_the_route_its_service_counts() -> None:
    for route in ROUTES.values():
        assert (route.served_as is None) == (route.method == "WS"), route


def test_locusts_p95_is_put_beside_the_services_route(tmp_path: Path) -> None:
    stats = tmp_path / "stats.csv"
    stats.write_text(
        "Type,Name,Request Count,95%\n"
        "GET,/api/products/[id],10,12\nGET,/api/products/[missing id],3,9\n"
        "DELETE,/api/products/[id],2,30\n"
        "GET,/legacy/brands,5,4\n"
        ",Aggregated,18,11\n"
    )
    view = {
        "since": 0,
        "until": 60,
        "peak_pool_waiters": {"api": 2, "legacy": 0},
        "routes": [
            {"job": "api", "route": "/products/{product_id}", "method": "GET", "requests": 13, "p95_ms": 3.5}
        ],
    }
    text = server_view.table(view, server_view.locust_p95(stats))
    assert "12 (/api/products/[id]), 9 (/api/products/[missing id])" in text
    assert text.splitlines()[2].split()[:5] == ["api", "GET", "/products/{product_id}", "13", "3.5"]
    assert text.endswith("Peak requests waiting for a pooled connection: api 2, legacy 0")


@pytest.mark.compose
def test_make_loadtest_prints_and_saves_the_services_view(
    base_url: str, write_tokens_file: Path, tmp_path: Path
) -> None:
    # What is tested here is the view, not the speed of a machine the other suites share.
    loose = [
        "MAX_FAIL_RATIO=0.5",
        *(f"P95_{group}_MS=60000" for group in ("API_READ", "API_WRITE", "LEGACY", "COUNTER")),
    ]
    prometheus = f"PROMETHEUS_URL={os.environ['STACK_PROMETHEUS_URL']}"
    run = make_loadtest(base_url, write_tokens_file, tmp_path, prometheus, "RUN_TIME=10s", *loose)
    # The verdict is Locust's (its own tests); the view follows it either way.
    assert run.returncode in (0, 1) and "\nThresholds: " in run.stdout, (
        run.stdout[-3000:] + run.stderr[-3000:]
    )
    assert "Server side (Prometheus" in run.stdout
    saved = json.loads((tmp_path / "server_view.json").read_text())
    with (tmp_path / "stats_stats.csv").open() as f:
        answered = {
            (row["Type"], row["Name"]): int(row["Request Count"]) - int(row["Failure Count"])
            for row in csv.DictReader(f)
        }
    rows = {(row["job"], row["method"], row["route"]): row for row in saved["routes"]}
    # Every answer Locust had from these routes was counted by the service (which counts more: the
    # answers Locust had given up waiting for, the misses' 404s), and has a p95.
    for locust_name, key in [
        (("GET", "/api/products/[id]"), ("api", "GET", "/products/{product_id}")),
        (("GET", "/legacy/products/[id]"), ("legacy", "GET", "/products/{product_id}")),
    ]:
        assert rows[key]["requests"] >= answered[locust_name] > 0, (rows.get(key), answered)
        assert rows[key]["p95_ms"] > 0
    assert set(saved["peak_pool_waiters"]) == {"api", "legacy"}
    assert (tmp_path / "server_view.txt").read_text() in run.stdout
