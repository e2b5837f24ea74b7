"""Short Locust runs against the stack at `base_url`: the headless gate passes on a healthy stack,
fails on an impossible threshold, and refuses a target that is not loopback; so does the web UI."""

import csv
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dev.stack import ROOT, free_port
from loadtest.routes import ROUTES, Group
from tests.helpers import wait_until

LOCUST = str(Path(sys.executable).parent / "locust")


def clean_env(**extra: str) -> dict[str, str]:
    """No LOCUST_* settings or make state leaking in from the caller: each run says what it means."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOCUST_", "MAKE")) and k != "MFLAGS"}
    return {**env, **extra}


def locust(host: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    command = [LOCUST, "-f", "loadtest/locustfile.py", "--headless", "--only-summary", "--host", host, *args]
    return subprocess.run(
        command, cwd=ROOT, env=clean_env(**env), capture_output=True, text=True, timeout=120, check=False
    )


# make test checks the plumbing, not the speed of a shared machine: p95 limits no run can miss,
# passed the way a user passes them, and read back from the table.
UNMISSABLE_P95_MS = 600_000


def make_loadtest(
    base_url: str, write_tokens_file: Path, results: Path, *variables: str
) -> subprocess.CompletedProcess[str]:
    """`make loadtest` against `base_url` with 12 users for 8 s, its writers' token from
    `write_tokens_file`, reports in `results`, and more make `variables`."""
    command = ["make", "--no-print-directory", "loadtest", f"HOST={base_url}", "USERS=12", "SPAWN_RATE=12"]
    command += ["RUN_TIME=8s", f"RESULTS_DIR={results}", f"WRITE_TOKEN_FILE={write_tokens_file}", *variables]
    return subprocess.run(
        command, cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=180, check=False
    )


def test_make_loadtest_passes_its_thresholds_and_writes_the_reports(
    base_url: str, write_tokens_file: Path, tmp_path: Path
) -> None:
    # No Prometheus answers there: the server-side view is skipped (test_server_view.py has it).
    nowhere = f"http://127.0.0.1:{free_port()}"
    unmissable = (f"P95_{group.name}_MS={UNMISSABLE_P95_MS}" for group in Group)
    run = make_loadtest(base_url, write_tokens_file, tmp_path, f"PROMETHEUS_URL={nowhere}", *unmissable)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    lines = run.stdout.rstrip().splitlines()
    assert lines[-2:] == ["Thresholds: PASS", f"reports: {tmp_path}/"]
    for group in Group:
        [row] = [line.split() for line in lines if line.startswith(f"{group} ")]
        assert row[-2:] == [str(UNMISSABLE_P95_MS), "pass"], row
    assert (tmp_path / "report.html").stat().st_size > 0
    assert "server-side view skipped: no Prometheus at" in run.stderr
    assert not (tmp_path / "server_view.json").exists()
    with (tmp_path / "stats_stats.csv").open() as f:
        rows = {(row["Type"], row["Name"]): row for row in csv.DictReader(f)}
    # Every row is a known route, none failed, and each user class's main route was exercised.
    assert set(rows) - {("", "Aggregated")} <= set(ROUTES)
    assert all(row["Failure Count"] == "0" for row in rows.values()), rows
    for key in [
        ("GET", "/api/products?after=[id]"),
        ("GET", "/legacy/products/[id]"),
        ("POST", "/api/products"),
        ("DELETE", "/api/products/[id]"),
        ("WS", "/counter"),
    ]:
        assert int(rows[key]["Request Count"]) > 0, key


def test_an_impossible_threshold_fails_the_run(base_url: str, write_tokens_file: Path) -> None:
    # A p95 below 0 ms cannot be met; set through the environment as `make loadtest P95_API_READ_MS=0` does.
    run = locust(
        base_url,
        "--users", "8", "--spawn-rate", "8", "--run-time", "4s",
        LOCUST_P95_API_READ_MS="0",
        LOCUST_WRITE_TOKEN_FILE=str(write_tokens_file),
    )  # fmt: skip
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]
    lines = run.stdout.rstrip().splitlines()
    assert lines[-1] == "Thresholds: FAIL"
    assert any(line.startswith("api-read") and "FAIL: p95" in line and ">= 0 ms" in line for line in lines), run.stdout[-3000:]


def test_writers_without_the_write_token_stop_and_fail_the_run(base_url: str) -> None:
    run = locust(base_url, "--users", "2", "--spawn-rate", "2", "--run-time", "3s", "ApiWriter")
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]
    assert "ApiWriter needs a write token" in run.stderr
    assert run.stdout.rstrip().splitlines()[-1] == "Thresholds: FAIL"


def test_a_host_that_is_not_loopback_is_refused_before_any_request() -> None:
    run = locust("http://example.com", "--users", "1", "--run-time", "5s")
    assert run.returncode == 2
    assert "refusing to load-test http://example.com" in run.stderr
    assert "Ramping" not in run.stderr  # no user was started


@pytest.fixture
def web_ui(base_url: str, write_tokens_file: Path) -> Iterator[str]:
    """Locust with its web UI on a free loopback port, the host prefilled with `base_url`."""
    port = free_port()
    command = [LOCUST, "-f", "loadtest/locustfile.py", "--web-host", "127.0.0.1", "--web-port", str(port)]
    process = subprocess.Popen(
        [*command, "--host", base_url],
        cwd=ROOT,
        env=clean_env(LOCUST_WRITE_TOKEN_FILE=str(write_tokens_file)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    def answers() -> bool:
        assert process.poll() is None, "the web UI exited"
        try:
            httpx.get(url, timeout=1)
            return True
        except httpx.TransportError:
            return False

    try:
        wait_until(answers, 30, "the web UI did not come up", interval=0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_web_ui_offers_the_host_and_refuses_to_swarm_another(web_ui: str, base_url: str) -> None:
    assert f'"host": "{base_url}"' in httpx.get(web_ui).text
    form = {"user_count": "1", "spawn_rate": "1", "host": "http://example.com"}
    refused = httpx.post(f"{web_ui}/swarm", data=form)
    assert refused.status_code == 400
    assert refused.json()["success"] is False and "not a loopback address" in refused.json()["message"]
    assert httpx.get(f"{web_ui}/stats/requests").json()["state"] == "ready"  # nothing started

    started = httpx.post(f"{web_ui}/swarm", data={**form, "host": base_url, "run_time": "2s"})
    assert started.json()["success"] is True
