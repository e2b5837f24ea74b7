"""make bench works: the quick mode runs once end to end, and wrk's output is read right.

Speed ratios are the benchmark's business (make bench reports them); nothing here asserts them.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import cpu, paced, report, wrk
from bench.targets import BASELINES

ROOT = Path(__file__).resolve().parent.parent

WRK_OUTPUT = """\
Running 2s test @ http://127.0.0.1:8080/api/brands
  1 threads and 200 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.01s   393.30ms   2.00s    68.88%
    Req/Sec   137.38    127.19   449.00     69.23%
  Latency Distribution
     50%  925.27us
     75%    1.15s
     90%    1.73s
     99%    1.99s
  202 requests in 2.08s, 101.02KB read
  Socket errors: connect 1, read 2, write 3, timeout 6
  Non-2xx or 3xx responses: 194
Requests/sec:     97.11
Transfer/sec:     48.56KB
"""


def test_wrk_output_is_parsed_with_units_and_error_lines() -> None:
    result = wrk.parse(WRK_OUTPUT)
    assert result.requests == 202
    assert result.duration_s == pytest.approx(2.08)
    assert result.requests_per_s == pytest.approx(97.11)
    assert result.p50_ms == pytest.approx(0.92527)
    assert result.p99_ms == pytest.approx(1990)
    assert (result.non_2xx, result.connect_errors, result.read_errors, result.write_errors) == (194, 1, 2, 3)
    assert result.errors == 200
    assert result.timeouts == 6


def test_wrk_output_without_error_lines_means_no_errors() -> None:
    clean = "\n".join(
        line for line in WRK_OUTPUT.splitlines() if "errors" not in line and "Non-2xx" not in line
    )
    result = wrk.parse(clean.replace("1.99s", "12.50ms"))
    assert (result.errors, result.timeouts) == (0, 0)
    assert result.p99_ms == pytest.approx(12.5)


def test_truncated_wrk_output_is_an_error_not_a_zero() -> None:
    with pytest.raises(wrk.WrkOutputError):
        wrk.parse(WRK_OUTPUT.split("Requests/sec")[0])


# Burns 0.4 s of CPU, says so, then stays alive until its stdin closes.
BURNER = """
import sys, time
end = time.process_time() + 0.4
while time.process_time() < end:
    pass
print("burnt", flush=True)
sys.stdin.read()
"""
# Starts a burner as its own child and relays its line: a master with a busy worker, in small.
MASTER = """
import subprocess, sys
worker = subprocess.Popen([sys.executable, "-c", sys.argv[1]], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
sys.stdout.buffer.write(worker.stdout.readline())
sys.stdout.flush()
sys.stdin.read()
"""


def test_cpu_of_a_process_tree_includes_its_live_descendants() -> None:
    master = subprocess.Popen(
        [sys.executable, "-c", MASTER, BURNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert master.stdout.readline() == "burnt\n"
        times = cpu.process_times()
        master_alone = times[master.pid][1]
        assert master_alone < 0.3  # the master itself only waited
        with_worker = cpu.seconds_by_tree({"master": master.pid}, times)["master"]
        assert with_worker >= master_alone + 0.35  # the worker's 0.4 s counted
    finally:
        master.stdin.close()
        master.wait(10)


def test_cpu_roles_split_the_machine_time() -> None:
    per_process = {"nginx": 30.0, "api": 120.0, "legacy": 0.5, "postgres": 4.0, "wrk": 14.0, "machine": 180.0}
    roles = cpu.by_role(per_process)
    assert roles == {
        "wrk": 14.0,
        "nginx": 30.0,
        "services": 120.5,
        "postgres": 4.0,
        "other": 11.5,
        "machine": 180.0,
    }


def test_mix_404s_for_missing_ids_are_not_errors_but_other_failures_are() -> None:
    output = WRK_OUTPUT.replace("Requests/sec", "Expected 404 responses: 190\nRequests/sec")
    result = wrk.parse(output)
    assert result.expected_404 == 190
    assert result.errors == 194 - 190 + 1 + 2 + 3


def test_the_mix_check_is_on_the_paced_run_at_the_bound() -> None:
    def mix(p99_ms: float) -> list[report.Check]:
        row = {"kind": "ours", "errors": 0, "timeouts": 0}
        saturated = {**row, "name": "mix-nginx", "label": "mix", "requests_per_s": 3000, "p99_ms": 200.0}
        at_bound = {**row, "name": "mix-nginx-p99", "label": "mix, p99", "requests_per_s": 2100}
        at_bound["p99_ms"] = p99_ms
        found = report.checks([saturated, at_bound])
        return [check for check in found if check.description.startswith("the mix")]

    [passed] = mix(49.9)
    assert passed.passed
    assert passed.measured == "2,100 req/s at p99 49.9 ms (saturated: 3,000 req/s at p99 200.0 ms)"
    assert [check.passed for check in mix(50.0)] == [False]


def test_the_rate_at_a_p99_bound_is_bisected_below_the_saturated_rate() -> None:
    asked: list[float] = []

    def run(rate: float) -> dict:  # this stack keeps p99 under 50 ms up to 2,300 requests/s
        asked.append(rate)
        return {"requests_per_s": 0.9 * rate, "p99_ms": 20.0 if rate <= 2300 else 300.0}

    steps = paced.search(0, 3200, 50, 5, run)
    assert asked == [1600, 2400, 2000, 2200, 2300]
    assert [step.passed for step in steps] == [True, False, True, True, True]
    assert paced.answer(steps).requested_per_s == 2300
    assert paced.answer(steps).row["requests_per_s"] == pytest.approx(2070)
    # No rate passes: the slowest run tried is the answer, and reports the failure.
    none_pass = paced.search(0, 3200, 10, 3, run)
    assert paced.answer(none_pass).requested_per_s == 400 and not paced.answer(none_pass).passed
    # 200 connections asking for 2,000 requests/s: each pauses 100 ms on average.
    assert paced.mean_pause_ms(2000, 200) == 100


def test_no_paced_run_pauses_a_connection_until_nginx_closes_it() -> None:
    # nginx closes a connection that sends nothing for client_header_timeout (10 s); wrk counts it a
    # read error. A pause is at most twice the mean.
    slowest = paced.slowest_rate(200)
    assert 2 * paced.mean_pause_ms(slowest, 200) < 10_000
    asked: list[float] = []

    def run(rate: float) -> dict:  # nothing passes: the search goes down as far as it may
        asked.append(rate)
        return {"requests_per_s": rate, "p99_ms": 99}

    paced.search(slowest, 3200, 50, 5, run)
    assert min(asked) >= slowest
    # A saturated rate below the slowest: every run at the slowest.
    assert {step.requested_per_s for step in paced.search(slowest, 10, 50, 2, run)} == {slowest}


@pytest.mark.native
def test_quick_benchmark_runs_every_target(tmp_path: Path) -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.run",
            "--quick",
            "--duration",
            "2",
            "--warmup",
            "1",
            "--results-dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]

    for suffix in ("md", "json", "png"):
        assert (tmp_path / f"latest.{suffix}").stat().st_size > 0
    saved = json.loads((tmp_path / "latest.json").read_text())
    rows = {row["name"]: row for row in saved["results"]}
    expected = {
        "api-nginx",
        "legacy-nginx",
        "api-product-nginx",
        "legacy-product-nginx",
        "api-create-nginx",
        "mix-nginx",
        "mix-nginx-p99",
        "api-direct",
        "legacy-direct",
        "nginx-hello",
        *(baseline.name for baseline in BASELINES),
    }
    assert set(rows) == expected
    for name, row in rows.items():
        assert row["requests_per_s"] > 0, f"{name} served nothing: {row}"
    # Our services answered every request with a 2xx and dropped no connection. Timeouts (a response
    # slower than wrk's 2 s) are a speed figure, which the benchmark's own checks report, not a test.
    for name, row in rows.items():
        if row["kind"] == "ours":
            assert row["errors"] == 0, f"{name} failed requests: {row}"
    online = sum(line.startswith("processor") for line in Path("/proc/cpuinfo").read_text().splitlines())
    assert saved["run"]["machine"]["cores"] == online
    table = (tmp_path / "latest.md").read_text()
    assert "| /api/brands via nginx | ours |" in table
    # Where each target's CPU went: nginx worked for the routes through it, not for the direct ones.
    for name, row in rows.items():
        split = row["cpu_us_per_request"]
        assert set(split) == set(cpu.ROLES)
        assert split["wrk"] > 0 and split["machine"] > 0, f"{name}: {split}"
    assert rows["api-nginx"]["cpu_us_per_request"]["nginx"] > 0
    nginx_us = {name: row["cpu_us_per_request"]["nginx"] for name, row in rows.items()}
    assert nginx_us["api-direct"] < nginx_us["api-nginx"]
    assert rows["fastapi"]["cpu_us_per_request"]["services"] > 0
    # Every one of the project's targets was checked (6 ratios, the mix's rate at its p99 bound, zero
    # errors for 9 rows of ours, the metrics' cost and its runs' errors for both /brands routes), pass
    # or fail; nginx's CPU per proxied request is listed for each route through it.
    assert len(saved["run"]["checks"]) == 20
    assert table.count("PASS  ") + table.count("FAIL  ") == 20
    assert "nginx CPU per proxied request (µs): /api/brands " in table
    # The metrics' cost: both /brands routes in pairs of fresh instances, each behind an nginx of its own.
    costs = {cost["name"]: cost for cost in saved["run"]["metrics_cost"]}
    assert set(costs) == {"api-nginx", "legacy-nginx"}
    for cost in costs.values():
        assert len(cost["pairs"]) == 2
        for pair in cost["pairs"]:
            assert pair["with"]["url"] != pair["without"]["url"]
            assert pair["without"]["requests_per_s"] > 0
            assert pair["without"]["cpu_us_per_request"]["nginx"] > 0
        # The two nginx in front of the twins change sides from one pair to the next.
        first, second = cost["pairs"]
        assert first["with"]["url"] == second["without"]["url"]
    assert "| /legacy/brands via nginx | " in table.split("What the metrics cost")[1]


def test_metrics_cost_is_the_median_of_alternating_pairs() -> None:
    def pair(with_rate: float, without_rate: float, failed: int = 0) -> dict:
        def row(rate: float) -> dict:
            return dict(
                requests_per_s=rate, errors=failed, timeouts=0, cpu_us_per_request={"services": 1e6 / rate}
            )

        return {"with": row(with_rate), "without": row(without_rate)}

    # One pair that a passing disturbance split (0.80) does not decide it; the median pair does.
    api = {"name": "api-nginx", "label": "/api/brands via nginx", "run_s": 5}
    api["pairs"] = [pair(9700, 10000), pair(8000, 10000), pair(10000, 10100)]
    legacy = {"name": "legacy-nginx", "label": "/legacy/brands via nginx", "run_s": 5}
    legacy["pairs"] = [pair(9000, 10000), pair(9400, 10000), pair(9800, 10000, failed=1)]
    found = {check.description: check for check in report.checks([], [api, legacy])}
    api_cost = found[
        "metrics cost: /api/brands via nginx with metrics ≥ 0.95× without (median of 3 alternating pairs)"
    ]
    assert api_cost.passed and api_cost.measured == "0.970×"
    legacy_cost = found[
        "metrics cost: /legacy/brands via nginx with metrics ≥ 0.95× without (median of 3 alternating pairs)"
    ]
    assert not legacy_cost.passed and legacy_cost.measured == "0.940×"
    assert found["zero errors and timeouts: /api/brands via nginx, metrics on and off in turns"].passed
    assert not found["zero errors and timeouts: /legacy/brands via nginx, metrics on and off in turns"].passed


def test_the_in_process_metrics_bench_runs_and_counts_every_request_of_its_metrics_on_variant() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.metrics_inprocess", "--chunks", "3", "--requests", "40"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines[1:4]] == ["metrics", "metrics", "on"]
    assert lines[4] == "requests counted with metrics on: 160"  # a warm-up chunk and 3 more of 40
