"""Short headless Locust runs against the stack at `base_url`: the gate passes on a healthy stack,
fails on an impossible threshold, and refuses a target that is not loopback."""

import csv
import os
import subprocess
import sys
from pathlib import Path

from dev.stack import ROOT

from loadtest.routes import ROUTES

LOCUST = str(Path(sys.executable).parent / "locust")


def clean_env(**extra: str) -> dict[str, str]:
    """No LOCUST_* settings or make state leaking in from the caller: each run says what it means."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOCUST_", "MAKE")) and k != "MFLAGS"}
    return {**env, **extra}


def locust(host: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    command = [LOCUST, "-f", "loadtest/locustfile.py", "--headless", "--only-summary", "--host", host, *args]
    return subprocess.run(command, cwd=ROOT, env=clean_env(**env), capture_output=True, text=True, timeout=120)


def test_make_loadtest_passes_its_thresholds_and_writes_the_reports(base_url: str, tmp_path: Path) -> None:
    run = subprocess.run(
        ["make", "--no-print-directory", "loadtest", f"HOST={base_url}", "USERS=12", "SPAWN_RATE=12",
         "RUN_TIME=8s", f"RESULTS_DIR={tmp_path}"],
        cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert run.stdout.rstrip().splitlines()[-2:] == ["Thresholds: PASS", f"reports: {tmp_path}/"]
    assert (tmp_path / "report.html").stat().st_size > 0
    with (tmp_path / "stats_stats.csv").open() as f:
        rows = {(row["Type"], row["Name"]): row for row in csv.DictReader(f)}
    # Every row is a known route, none failed, and each user class's main route was exercised.
    assert set(rows) - {("", "Aggregated")} <= set(ROUTES)
    assert all(row["Failure Count"] == "0" for row in rows.values()), rows
    for key in [("GET", "/api/products?after=[id]"), ("GET", "/legacy/products/[id]"),
                ("POST", "/api/products"), ("DELETE", "/api/products/[id]"), ("WS", "/counter")]:
        assert int(rows[key]["Request Count"]) > 0, key


def test_an_impossible_threshold_fails_the_run(base_url: str) -> None:
    # A p95 below 0 ms cannot be met; set through the environment as `make loadtest P95_API_READ_MS=0` does.
    run = locust(base_url, "--users", "8", "--spawn-rate", "8", "--run-time", "4s", LOCUST_P95_API_READ_MS="0")
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]
    lines = run.stdout.rstrip().splitlines()
    assert lines[-1] == "Thresholds: FAIL"
    assert any(line.startswith("api-read") and "FAIL: p95" in line and ">= 0 ms" in line for line in lines)


def test_a_host_that_is_not_loopback_is_refused_before_any_request() -> None:
    run = locust("http://example.com", "--users", "1", "--run-time", "5s")
    assert run.returncode == 2
    assert "refusing to load-test http://example.com" in run.stderr
    assert "Ramping" not in run.stderr  # no user was started
