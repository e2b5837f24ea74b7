"""The compose stack with the observability profile, seen through Prometheus's HTTP API (make
test-compose): every scrape target is up, each request counted once across workers and replicas,
the counter's sockets as many as the clients connected, replicas found as they are scaled."""

import asyncio
import datetime
import os
import subprocess
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import websockets

from tests.test_metrics import API_ROUTES, LEGACY_ROUTES, SETTLE_SECONDS

pytestmark = pytest.mark.compose
JOBS = {"api", "legacy", "counter", "nginx", "postgres", "prometheus"}
# Docker's healthchecks call /healthz on their own: its count moves without us.
QUIET_ROUTES = {
    "api": [r for r in API_ROUTES if r[2] != "/healthz"],
    "legacy": [r for r in LEGACY_ROUTES if r[2] != "/healthz"],
}


@pytest.fixture(scope="module")
def prometheus() -> httpx.Client:
    url = os.environ.get("STACK_PROMETHEUS_URL")
    if not url:
        pytest.fail("STACK_PROMETHEUS_URL is not set: run through make test-compose")
    return httpx.Client(base_url=url, timeout=10)


def compose(*args: str) -> None:
    command = ["docker", "compose", "-p", os.environ["STACK_COMPOSE_PROJECT"], *args]
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=300)


def query(prometheus: httpx.Client, promql: str) -> list[dict[str, Any]]:
    body = prometheus.get("/api/v1/query", params={"query": promql}).json()
    assert body["status"] == "success", body
    return body["data"]["result"]


def by_labels(prometheus: httpx.Client, promql: str, *labels: str) -> dict[tuple[str, ...], float]:
    return {
        tuple(r["metric"].get(label, "") for label in labels): float(r["value"][1])
        for r in query(prometheus, promql)
    }


def targets(prometheus: httpx.Client) -> list[dict[str, Any]]:
    return prometheus.get("/api/v1/targets", params={"state": "active"}).json()["data"]["activeTargets"]


def wait_for(condition: Callable[[], bool], what: str | Callable[[], str], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what() if callable(what) else what
        time.sleep(1)


def scraped_since(prometheus: httpx.Client, moment: datetime.datetime, jobs: set[str]) -> bool:
    """Every target of these jobs has been scraped, successfully, after `moment`."""
    found = [t for t in targets(prometheus) if t["labels"]["job"] in jobs]
    return bool(found) and all(
        t["health"] == "up" and datetime.datetime.fromisoformat(t["lastScrape"]) > moment for t in found
    )


def after_next_scrape(prometheus: httpx.Client, jobs: set[str]) -> None:
    moment = datetime.datetime.now(datetime.timezone.utc)
    wait_for(lambda: scraped_since(prometheus, moment, jobs), f"{jobs} not scraped again")


def after_next_settled_scrape(prometheus: httpx.Client, jobs: set[str]) -> None:
    """After a scrape that has everything recorded before the call, every request answered and
    every socket opened (the services' workers write their numbers within a flush interval,
    stack_common.metrics_flush)."""
    time.sleep(SETTLE_SECONDS)
    after_next_scrape(prometheus, jobs)


def test_every_scrape_target_is_up(prometheus: httpx.Client) -> None:
    def all_up() -> bool:
        found = targets(prometheus)
        return {t["labels"]["job"] for t in found} == JOBS and all(t["health"] == "up" for t in found)

    wait_for(
        all_up,
        lambda: f"not all up: {[(t['labels'], t['health'], t['lastError']) for t in targets(prometheus)]}",
    )
    # The exporters reach what they export: nginx's stub_status, PostgreSQL as the monitor role
    # (after the fault tests' restart of PostgreSQL, once the exporter has reconnected).
    for exporter in ("nginx_up", "pg_up"):
        wait_for(
            lambda name=exporter: list(by_labels(prometheus, name, "job").values()) == [1.0],
            f"{exporter} != 1",
        )

    # The rules loaded; with every target up, TargetDown goes quiet. (The others may be pending
    # here: the fault tests before this one answer 503s on purpose.)
    def alerts() -> dict[str, str]:
        groups = prometheus.get("/api/v1/rules").json()["data"]["groups"]
        return {
            rule["name"]: rule["state"] for g in groups for rule in g["rules"] if rule["type"] == "alerting"
        }

    assert set(alerts()) == {"ServerErrors", "TargetDown", "PoolWaiters", "CounterDisagreement"}
    wait_for(lambda: alerts()["TargetDown"] == "inactive", lambda: f"TargetDown is {alerts()['TargetDown']}")


def test_a_request_of_each_route_counts_once_across_workers(
    prometheus: httpx.Client, http: httpx.Client
) -> None:
    promql = "sum by (job, route, method, status) (http_request_duration_seconds_count)"
    after_next_settled_scrape(prometheus, {"api", "legacy"})
    before = by_labels(prometheus, promql, "job", "route", "method", "status")
    sent = []
    for job, routes in QUIET_ROUTES.items():
        for method, path, route in routes:
            sent.append((job, route, method, str(http.request(method, path).status_code)))
    after_next_settled_scrape(prometheus, {"api", "legacy"})
    after = by_labels(prometheus, promql, "job", "route", "method", "status")
    for key in sent:
        assert after.get(key, 0) - before.get(key, 0) == 1, (
            f"{key} counted {after.get(key, 0) - before.get(key, 0)} times"
        )


def test_a_histograms_count_matches_the_requests_sent(prometheus: httpx.Client, http: httpx.Client) -> None:
    selector = '{job="legacy", route="/brands", method="GET", status="200"}'
    after_next_settled_scrape(prometheus, {"legacy"})
    before = by_labels(prometheus, f'sum(http_request_duration_seconds_bucket{selector[:-1]}, le="+Inf"}})')
    for _ in range(25):
        assert http.get("/legacy/brands").status_code == 200
    after_next_settled_scrape(prometheus, {"legacy"})
    after = by_labels(prometheus, f'sum(http_request_duration_seconds_bucket{selector[:-1]}, le="+Inf"}})')
    count = by_labels(prometheus, f"sum(http_request_duration_seconds_count{selector})")
    assert after[()] - before.get((), 0) == 25
    assert count == after
    # The recording rule has the route's p95 as the service measured it.
    wait_for(
        lambda: bool(
            query(
                prometheus,
                'job_route_method:http_request_duration_seconds:p95_1m{job="legacy",route="/brands"}',
            )
        ),
        "no recorded p95 for legacy /brands",
    )


def test_the_counters_sockets_match_the_clients_across_scaled_replicas(
    prometheus: httpx.Client, ws_url: str
) -> None:
    """docker compose up --scale counter=2: Prometheus finds the second replica by itself, and the
    sockets of both replicas' processes add up to the clients connected through nginx."""

    def counter_targets() -> int:
        return sum(1 for t in targets(prometheus) if t["labels"]["job"] == "counter" and t["health"] == "up")

    def sockets() -> float:
        return sum(by_labels(prometheus, "sum(counter_sockets)").values())

    compose("up", "-d", "--wait", "--no-recreate", "--scale", "counter=2", "counter")
    try:
        wait_for(lambda: counter_targets() == 2, "Prometheus did not find the second counter replica")
        after_next_settled_scrape(prometheus, {"counter"})
        baseline = sockets()

        async def scenario() -> None:
            clients = [await websockets.connect(ws_url, open_timeout=10) for _ in range(20)]
            try:
                await asyncio.gather(*(client.recv() for client in clients))
                # The counter's workers write their sockets within a flush interval too.
                await asyncio.to_thread(after_next_settled_scrape, prometheus, {"counter"})
                assert sockets() == baseline + 20
                per_process = query(prometheus, "counter_sockets")
                assert len({r["metric"]["instance"] for r in per_process}) == 2
            finally:
                await asyncio.gather(*(client.close() for client in clients))

        asyncio.run(scenario())
        wait_for(lambda: sockets() == baseline, "closed sockets still counted")
    finally:
        compose("up", "-d", "--wait", "--no-recreate", "--scale", "counter=1", "counter")
        wait_for(lambda: counter_targets() == 1, "the removed counter replica is still a target")
        time.sleep(6)  # nginx's cached answer with the removed replica expires
