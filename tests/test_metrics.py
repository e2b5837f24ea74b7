"""Every service's Prometheus metrics, read on each service's own metrics port (the native stack):
they parse, each worker process is counted once, a worker's last numbers outlive its graceful stop,
and nothing of them is reachable through nginx. The same claims against compose, through Prometheus
itself, are in tests/test_prometheus_live.py."""

import asyncio
import time
from collections.abc import Callable

import asyncpg
import httpx
import pytest
import websockets
from prometheus_client import CollectorRegistry, multiprocess
from prometheus_client.parser import text_string_to_metric_families
from stack_common.metrics_flush import FLUSH_SECONDS

from dev.stack import SERVICES, Stack

# The families each service exposes, no more: its own names, the pool and batch ones shared by api
# and legacy (the counter has no pool of theirs and no HTTP requests to count).
EXPECTED = {
    "api": {
        "http_request_duration_seconds",
        "http_requests_in_flight",
        "db_pool_connections",
        "db_pool_max_connections",
        "db_pool_in_use",
        "db_pool_waiters",
        "db_batch_size",
    },
    "legacy": {
        "http_request_duration_seconds",
        "http_requests_in_flight",
        "db_pool_connections",
        "db_pool_max_connections",
        "db_pool_in_use",
        "db_pool_waiters",
        "db_batch_size",
    },
    "counter": {
        "counter_sockets",
        "counter_users_shown",
        "counter_broadcasts",
        "counter_broadcast_duration_seconds",
        "counter_broadcast_delay_seconds",
        "counter_heartbeat_duration_seconds",
        "counter_heartbeat_failures",
        "counter_heartbeat_last_success_timestamp_seconds",
    },
}
# One request of every route, through nginx: (method, path, route template as the service labels it).
API_ROUTES = [
    ("GET", "/api/brands", "/brands"),
    ("GET", "/api/brands/7", "/brands/{brand_id}"),
    ("GET", "/api/brands/7/products", "/brands/{brand_id}/products"),
    ("GET", "/api/products?limit=2", "/products"),
    ("GET", "/api/products/1", "/products/{product_id}"),
    ("GET", "/api/time", "/time"),
    ("GET", "/api/readyz", "/readyz"),
    ("GET", "/api/healthz", "/healthz"),
    ("GET", "/api/no-such-route", "unmatched"),
]
LEGACY_ROUTES = [
    ("GET", "/legacy/brands", "/brands"),
    ("GET", "/legacy/products/1", "/products/{product_id}"),
    ("GET", "/legacy/time", "/time"),
    ("GET", "/legacy/readyz", "/readyz"),
    ("GET", "/legacy/healthz", "/healthz"),
    ("GET", "/legacy/no-such-route", "unmatched"),
]

# The workers write what they recorded at most FLUSH_SECONDS later (stack_common.metrics_flush): a
# scrape this long after the last request has all of it.
SETTLE_SECONDS = FLUSH_SECONDS + 1

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    """Every sample of a metrics page, by name and labels; fails if the page does not parse."""
    text = httpx.get(url, timeout=10).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape_settled(url: str) -> Samples:
    """A scrape that has every request answered before the call."""
    time.sleep(SETTLE_SECONDS)
    return scrape(url)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name` over every series whose labels include `labels` (all workers, all pids)."""
    wanted = set(labels.items())
    return sum(value for (sample, have), value in samples.items() if sample == name and wanted <= have)


def requests_of(samples: Samples, route: str, method: str, status: str) -> float:
    return total(samples, "http_request_duration_seconds_count", route=route, method=method, status=status)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


@pytest.mark.native
@pytest.mark.parametrize("service", SERVICES)
def test_every_service_serves_its_metrics_and_no_others(stack: Stack, service: str) -> None:
    text = httpx.get(stack.metrics_url(service), timeout=10).text
    families = {family.name for family in text_string_to_metric_families(text)}
    assert families == EXPECTED[service], (EXPECTED[service] - families, families - EXPECTED[service])


@pytest.mark.native
def test_a_request_of_each_route_counts_once_across_the_workers(stack: Stack, http: httpx.Client) -> None:
    """Two workers per service: every request is counted by the worker that served it, once, and the
    master serves the sum. Twenty of a route land on both workers; all twenty must be there."""
    for service, routes in (("api", API_ROUTES), ("legacy", LEGACY_ROUTES)):
        before = scrape_settled(stack.metrics_url(service))
        statuses = {path: http.request(method, path).status_code for method, path, _ in routes}
        after = scrape_settled(stack.metrics_url(service))
        for method, path, route in routes:
            status = str(statuses[path])
            counted = requests_of(after, route, method, status) - requests_of(before, route, method, status)
            assert counted == 1, f"{service} {method} {path} ({route}, {status}) counted {counted} times"

        brands = "/api/brands" if service == "api" else "/legacy/brands"
        before = after  # nothing sent since
        for _ in range(20):
            assert http.get(brands).status_code == 200
        after = scrape_settled(stack.metrics_url(service))
        count = requests_of(after, "/brands", "GET", "200") - requests_of(before, "/brands", "GET", "200")
        in_buckets = total(after, "http_request_duration_seconds_bucket", route="/brands", le="+Inf") - total(
            before, "http_request_duration_seconds_bucket", route="/brands", le="+Inf"
        )
        assert (count, in_buckets) == (20, 20), service
        took = total(after, "http_request_duration_seconds_sum", route="/brands") - total(
            before, "http_request_duration_seconds_sum", route="/brands"
        )
        assert 0 < took < 20 * 5
        # The shared read answered the twenty in at most twenty round trips, each of one or more.
        batches = total(after, "db_batch_size_count", read="brands") - total(
            before, "db_batch_size_count", read="brands"
        )
        assert 1 <= batches <= 20


@pytest.mark.native
def test_a_failed_request_is_counted_with_its_status(stack: Stack, http: httpx.Client) -> None:
    before = scrape_settled(stack.metrics_url("api"))
    assert http.get("/api/products/abc").status_code == 422
    assert http.post("/api/products", json={"product_name": "x", "brand_id": 10**6}).status_code == 409
    assert http.request("PATCH", "/api/brands").status_code == 405
    after = scrape_settled(stack.metrics_url("api"))
    for route, method, status in [
        ("/products/{product_id}", "GET", "422"),
        ("/products", "POST", "409"),
        ("/brands", "PATCH", "405"),
    ]:
        assert requests_of(after, route, method, status) - requests_of(before, route, method, status) == 1


@pytest.mark.native
@pytest.mark.parametrize("service", ["api", "legacy"])
def test_a_workers_last_numbers_outlive_its_graceful_stop(stack: Stack, service: str) -> None:
    """A worker writes what it has recorded when it exits: an instance stopped right after its last
    requests, before its next flush, still has every one of them in its metrics directory."""
    name = f"{service}-stopped"
    url = stack.start_service_instance(service, name, env={"WORKERS": "1"})
    try:
        stack.wait_ready(urls=[f"{url}/healthz"])
        time.sleep(SETTLE_SECONDS)  # the readiness probes' flush is done: none is pending
        with httpx.Client(base_url=url, timeout=10) as client:
            for _ in range(10):
                assert client.get("/brands").status_code == 200
    finally:
        assert stack.stop_process(name) == 0  # SIGTERM: gunicorn's graceful stop
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(stack.state_dir / "metrics" / name))
    counted = sum(
        sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.name == "http_request_duration_seconds_count" and sample.labels["route"] == "/brands"
    )
    assert counted == 10


@pytest.mark.native
def test_the_counters_sockets_metric_matches_the_clients_connected(stack: Stack, ws_url: str) -> None:
    def sockets() -> float:
        return total(scrape(stack.metrics_url("counter")), "counter_sockets")

    time.sleep(SETTLE_SECONDS)  # earlier tests' sockets, closed, are written
    baseline = sockets()

    def settled() -> bool:
        """Both processes have written their sockets and the total they last sent (each writes at
        most a second after it changed, and a process shows the others' sockets once told)."""
        samples = scrape(stack.metrics_url("counter"))
        shown = {v for (name, _), v in samples.items() if name == "counter_users_shown"}
        return total(samples, "counter_sockets") == baseline + 12 and shown == {baseline + 12}

    async def scenario() -> None:
        clients = [await websockets.connect(ws_url, open_timeout=10) for _ in range(12)]
        try:
            await asyncio.gather(*(client.recv() for client in clients))
            await asyncio.to_thread(wait_for, settled, f"not {baseline + 12} sockets, shown by every process")
            samples = scrape(stack.metrics_url("counter"))
            per_process = [v for (name, _), v in samples.items() if name == "counter_sockets"]
            assert len(per_process) == 2  # one series per worker process
        finally:
            await asyncio.gather(*(client.close() for client in clients))

    asyncio.run(scenario())
    wait_for(lambda: sockets() == baseline, "the closed sockets are still counted")


@pytest.mark.native
def test_a_counter_workers_last_numbers_outlive_its_graceful_stop(stack: Stack) -> None:
    """A counter worker (forked by the supervisor, ended without atexit handlers) writes what it has
    recorded when it stops: the sockets it closed on the way out, which it writes no other way."""
    name = "counter-stopped"
    # No heartbeat during the test: nothing else is recorded, so no flush timer is on its way.
    url = stack.start_service_instance("counter", name, env={"WORKERS": "1", "HEARTBEAT_SECONDS": "60"})
    stopped = False
    try:
        stack.wait_ready(urls=[f"{url}/healthz"])

        async def scenario() -> None:
            nonlocal stopped
            address = url.replace("http", "ws", 1)
            clients = [await websockets.connect(address, open_timeout=10) for _ in range(3)]
            await asyncio.gather(*(client.recv() for client in clients))
            await asyncio.sleep(SETTLE_SECONDS)
            assert total(scrape(stack.metrics_url(name)), "counter_sockets") == 3
            # SIGTERM with the clients still connected and answering the close (so the stop is quick,
            # well within a flush interval): the worker closes their sockets and leaves.
            assert await asyncio.to_thread(stack.stop_process, name) == 0
            stopped = True
            for client in clients:
                await client.wait_closed()
                assert client.close_code == 1001

        asyncio.run(scenario())
    finally:
        if not stopped:
            stack.stop_process(name)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(stack.state_dir / "metrics" / name))
    found = {
        sample.name: sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.name in ("counter_sockets", "counter_broadcasts_total")
    }
    assert found["counter_sockets"] == 0  # written at the stop, not 3 as a second before
    assert found["counter_broadcasts_total"] >= 1


@pytest.mark.parametrize("path", ["/api/metrics", "/legacy/metrics", "/counter/metrics", "/metrics"])
def test_metrics_are_not_reachable_through_nginx(http: httpx.Client, path: str) -> None:
    response = http.get(path)
    assert response.status_code == 404
    assert "http_request_duration_seconds" not in response.text


@pytest.mark.native
def test_nginx_stub_status_answers_on_its_own_listener_only(stack: Stack, http: httpx.Client) -> None:
    status = httpx.get(f"http://127.0.0.1:{stack.ports['nginx_status']}/stub_status", timeout=5)
    assert status.status_code == 200 and status.text.startswith("Active connections:")
    assert http.get("/stub_status").status_code == 404


@pytest.mark.native
def test_the_monitor_role_reads_statistics_and_nothing_of_the_catalogue(stack: Stack) -> None:
    """postgres_exporter's login (postgres/04-monitor-role.sh): pg_monitor, and no table."""
    password = (stack.secrets_dir / "monitor_db_password").read_text().strip()
    dsn = f"postgresql://monitor:{password}@127.0.0.1:{stack.ports['postgres']}/products"

    async def check() -> None:
        connection = await asyncpg.connect(dsn)
        try:
            assert await connection.fetchval("SELECT pg_has_role('monitor', 'pg_monitor', 'member')")
            assert await connection.fetchval("SELECT count(*) FROM pg_stat_activity") >= 1
            assert not await connection.fetchval(
                "SELECT rolsuper OR rolcreaterole OR rolcreatedb FROM pg_roles WHERE rolname = 'monitor'"
            )
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await connection.fetch("SELECT * FROM brand LIMIT 1")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await connection.execute("DELETE FROM counter_presence")
        finally:
            await connection.close()

    asyncio.run(check())
