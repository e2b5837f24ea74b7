"""Faults survived: the database restarting under load, a service stopped with SIGTERM while it
has requests in flight, a service down or hung, and data that outlives a database restart.

Tests that stop or signal a process do it through the `faults` fixture (conftest.py), which starts
again whatever they stopped, also when they fail.
"""

import asyncio
import itertools
import json
import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from dev.stack import SERVICES, Stack, free_port
from tests.helpers import (
    SEEDED_BRANDS,
    Faults,
    connected,
    eventually,
    queries_waiting_on_a_lock,
    refuses_connections,
    wait_until,
    worker_pids,
)

READ_ROUTES = ("/api/brands", "/legacy/brands", "/api/products/1", "/legacy/products/1")
TRANSPORT_ERROR = 0  # the status recorded for a request that got no answer at all


@dataclass
class Outcome:
    started: float
    route: str
    status: int
    seconds: float
    error: str | None


def error_code(response: httpx.Response) -> str:
    try:
        return response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return f"not our JSON error: {response.text[:80]!r}"


def run_load(
    base_url: str,
    headers: dict[str, str],
    stop: threading.Event,
    outcomes: list[Outcome],
    acknowledged: list[tuple[int, str]],
    worker: int,
) -> None:
    """Reads on every route and a write per round, recording each answer, until told to stop. A
    request that hangs past the client timeout or is reset is an outcome too (status 0), not the
    end of the thread."""
    with httpx.Client(base_url=base_url, timeout=10, headers=headers) as client:
        round_number = 0
        while not stop.is_set():
            round_number += 1
            name = f"fault-test-{worker}-{round_number}"
            requests = [("GET", route, None) for route in READ_ROUTES]
            requests.append(("POST", "/api/products", {"product_name": name, "brand_id": 1}))
            for method, route, body in requests:
                started = time.monotonic()
                try:
                    response = client.request(method, route, json=body)
                except httpx.TransportError as failure:
                    error = f"{type(failure).__name__}: {failure}"
                    outcomes.append(Outcome(started, route, TRANSPORT_ERROR, time.monotonic() - started, error))
                    continue
                error = error_code(response) if response.status_code >= 400 else None
                outcomes.append(Outcome(started, route, response.status_code, time.monotonic() - started, error))
                if response.status_code == 201:
                    acknowledged.append((response.json()["product_id"], name))


@pytest.mark.native
def test_database_restart_under_load(stack: Stack, faults: Faults, http: httpx.Client) -> None:
    outcomes: list[Outcome] = []
    acknowledged: list[tuple[int, str]] = []
    stop = threading.Event()
    writer = {"Authorization": http.headers["Authorization"]}
    workers = [
        threading.Thread(target=run_load, args=(stack.http_url, writer, stop, outcomes, acknowledged, i))
        for i in range(4)
    ]
    pids_before = worker_pids(stack)

    def answered(since: float, status: int, prefix: str) -> bool:
        return any(o.started > since and o.status == status and o.route.startswith(prefix) for o in list(outcomes))

    for thread in workers:
        thread.start()
    try:
        started = time.monotonic()
        wait_until(lambda: answered(started, 200, "/api/") and answered(started, 200, "/legacy/"), 30, "load running")
        down_at = time.monotonic()
        faults.stop("postgres")
        # Both services have said so (and the outage lasts the 3 s the README names, at least).
        wait_until(
            lambda: answered(down_at + 0.5, 503, "/api/") and answered(down_at + 0.5, 503, "/legacy/"),
            30, "a 503 from both services during the outage",
        )
        wait_until(lambda: time.monotonic() > down_at + 3, 5, "three seconds of outage")
        faults.start("postgres")  # returns once pg_isready answers
        back_at = time.monotonic()
        wait_until(
            lambda: sum(o.started > back_at + 2 for o in list(outcomes)) > 20, 60, "load after the database's return"
        )
    finally:
        stop.set()
        for thread in workers:
            thread.join(timeout=30)

    assert all(not thread.is_alive() for thread in workers)
    assert worker_pids(stack) == pids_before, "a service or one of its workers was restarted"
    # Every answer was a success or a fast, explicit 503 — no 500, no 502, no hang, no reset.
    unexpected = {(o.route, o.status, o.error) for o in outcomes if o.status not in (200, 201, 503)}
    assert not unexpected, unexpected
    assert {o.error for o in outcomes if o.status == 503} == {"database_unavailable"}
    slowest = max(o.seconds for o in outcomes)
    assert slowest < 3, f"a request took {slowest:.1f}s"
    # Within 2 s of the database returning, every route answers again, without any restart.
    after = [o for o in outcomes if o.started > back_at + 2]
    assert all(o.status in (200, 201) for o in after), [(o.route, o.status) for o in after if o.status >= 300][:5]

    # No acknowledged write was lost.
    assert acknowledged
    for product_id, name in acknowledged:
        response = http.get(f"/api/products/{product_id}")
        assert response.status_code == 200 and response.json()["product_name"] == name
    for product_id, _ in acknowledged:
        assert http.delete(f"/api/products/{product_id}").status_code == 204


IN_FLIGHT = 8  # requests held inside the api when SIGTERM arrives


@pytest.mark.native
def test_sigterm_lets_in_flight_requests_finish(stack: Stack, faults: Faults) -> None:
    """Requests held inside the api (the table they read is locked) all complete after SIGTERM.

    Concurrent /products/{id} requests of a worker share one query (stack_common.fresh_reads): the
    first batch waits on the lock in PostgreSQL, the requests after it wait inside the service for
    the next one; the lock is released only once the api
    has stopped accepting connections, i.e. mid-shutdown, and within its 5 s query timeout.
    """
    api = stack.processes["api"]

    async def scenario() -> list[httpx.Response]:
        async with connected(stack.superuser_dsn()) as locker, connected(stack.superuser_dsn()) as watcher:
            transaction = locker.transaction()
            await transaction.start()
            await locker.execute("LOCK TABLE product IN ACCESS EXCLUSIVE MODE")
            async with httpx.AsyncClient(base_url=stack.http_url, timeout=20) as client:
                in_flight = [asyncio.create_task(client.get(f"/api/products/{i}")) for i in range(1, IN_FLIGHT + 1)]

                async def a_query_waiting() -> bool:
                    return await queries_waiting_on_a_lock(watcher, "api") >= 1

                await eventually(a_query_waiting, 5, "a query waiting on the lock")
                await asyncio.sleep(1)  # all were sent at once: a moment more and every one is inside
                faults.signal("api", signal.SIGTERM)  # gunicorn's graceful stop, as docker stop sends it
                await eventually(lambda: refuses_connections(stack.ports["api"]), 3, "the api to stop accepting")
                assert not any(request.done() for request in in_flight)
                await transaction.rollback()  # the queries proceed while the service shuts down
                return await asyncio.gather(*in_flight)

    responses = asyncio.run(scenario())
    assert [r.status_code for r in responses] == [200] * IN_FLIGHT, [r.text for r in responses]
    assert [r.json()["product_id"] for r in responses] == list(range(1, IN_FLIGHT + 1))
    assert api.wait(25) == 0


@pytest.mark.native
def test_data_survives_a_database_restart(stack: Stack, faults: Faults, http: httpx.Client) -> None:
    created = http.post("/api/products", json={"product_name": "survives restarts", "brand_id": 7}).json()
    faults.stop("postgres")
    faults.start("postgres")
    stack.wait_ready()
    assert http.get(f"/api/products/{created['product_id']}").json() == created
    assert len(http.get("/api/brands").json()) == SEEDED_BRANDS
    assert http.delete(f"/api/products/{created['product_id']}").status_code == 204


@pytest.mark.compose
def test_data_survives_a_new_postgres_container(http: httpx.Client) -> None:
    """The named volume keeps the data: the container is removed and a new one made on the same
    volume (a restart would keep the container, and lose nothing even without the volume). The
    init scripts do not run again on a non-empty volume: the new row is still there."""
    compose = ["docker", "compose", "-p", os.environ["STACK_COMPOSE_PROJECT"]]

    def container_id() -> str:
        return subprocess.run([*compose, "ps", "-q", "postgres"], capture_output=True, text=True, check=True).stdout

    created = http.post("/api/products", json={"product_name": "survives restarts", "brand_id": 7}).json()
    old = container_id()
    subprocess.run([*compose, "rm", "--stop", "--force", "postgres"], check=True, timeout=120)
    subprocess.run([*compose, "up", "-d", "--no-deps", "--wait", "postgres"], check=True, timeout=180)
    assert container_id() not in ("", old)
    wait_until(lambda: http.get("/api/readyz").status_code == 200, 60, "the api back on the new database")
    assert http.get(f"/api/products/{created['product_id']}").json() == created
    assert len(http.get("/api/brands").json()) == SEEDED_BRANDS
    assert http.delete(f"/api/products/{created['product_id']}").status_code == 204


ROUTES = {"api": "/api/brands", "legacy": "/legacy/brands", "counter": "/counter/healthz"}
SERVICE_DOWN = {"error": "service_unavailable", "detail": "the service behind this route is unavailable; retry shortly"}


def others_answer(http: httpx.Client, down: str) -> None:
    for service, route in ROUTES.items():
        if service != down:
            assert http.get(route).status_code == 200, route
    assert http.get("/").status_code == 200


@pytest.mark.native
@pytest.mark.parametrize("service", SERVICES)
def test_a_service_down_gives_json_502_on_its_route_only(
    faults: Faults, http: httpx.Client, ws_url: str, service: str
) -> None:
    faults.stop(service)
    response = http.get(ROUTES[service])
    assert response.status_code == 502
    assert response.json() == SERVICE_DOWN
    if service == "counter":  # the websocket itself, another proxy path

        async def refused() -> int:
            try:
                async with websockets.connect(ws_url, open_timeout=5):
                    return 101
            except InvalidStatus as refusal:
                assert json.loads(refusal.response.body) == SERVICE_DOWN
                return refusal.response.status_code

        assert asyncio.run(refused()) == 502
    others_answer(http, service)
    faults.start(service)
    faults.stack.wait_ready()
    assert http.get(ROUTES[service]).status_code == 200


@pytest.mark.native
def test_a_hung_service_gives_json_504_after_nginx_gives_up(faults: Faults, base_url: str, http: httpx.Client) -> None:
    """The legacy service accepts connections but answers nothing (every process stopped): nginx
    waits 8 s, and a GET is sent once more (test below), so 16 s."""
    with faults.frozen("legacy"), httpx.Client(base_url=base_url, timeout=30) as client:
        response = client.get("/legacy/brands")
        assert response.status_code == 504
        assert response.json() == {
            "error": "service_timeout",
            "detail": "the service behind this route did not answer in time",
        }
        others_answer(http, "legacy")
    assert http.get("/legacy/brands").status_code == 200


@dataclass
class CutsEveryOther:
    """A stand-in service on a free loopback port that closes every other connection without an
    answer (the first, third, …) and answers the others 200 "ok"; it records each request line."""

    requests: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        for i in itertools.count():
            try:
                connection, _ = self.listener.accept()
            except OSError:  # closed
                return
            with connection:
                head = connection.recv(65536).split(b"\r\n", 1)[0].decode()
                self.requests.append(head.rsplit(" ", 1)[0])
                if i % 2:
                    connection.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")


@pytest.mark.native
@pytest.mark.parametrize("service", ["api", "legacy"])
def test_nginx_sends_a_get_once_more_after_its_own_502_but_never_a_post(stack: Stack, service: str) -> None:
    """A replica that fails a request without an answer: nginx tries another while its list of
    replicas is unchanged, and after its own 502 or 504 (its list changed on a swarm, or it had
    one replica) it sends a GET once more, with the list as it is then. A POST may have reached
    the service: never sent twice, its client gets the JSON 502."""
    upstream = CutsEveryOther()
    name, port = f"nginx-{service}-again", free_port()
    stack.start_nginx(
        name,
        LISTEN_PORT=str(port),
        STATUS_LISTEN=f"127.0.0.1:{free_port()}",
        **{f"{service.upper()}_UPSTREAM": f"127.0.0.1:{upstream.port}"},
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            wait_until(lambda: not asyncio.run(refuses_connections(port)), 10, f"{name} to listen")
            response = client.get(f"/{service}/brands/7?page=2")
            assert (response.status_code, response.text) == (200, "ok")
            assert upstream.requests == ["GET /brands/7?page=2"] * 2
            response = client.post(f"/{service}/products", json={"product_name": "once", "brand_id": 7})
            assert response.status_code == 502
            assert response.json() == SERVICE_DOWN
            assert upstream.requests[2:] == ["POST /products"]
    finally:
        stack.stop_process(name)
        upstream.listener.close()


DRAIN_SECONDS = 3


def answers(url: str) -> bool:
    """A new connection to the service is served (no pooled one: a drained service must accept)."""
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.native
@pytest.mark.parametrize("service", SERVICES)
def test_sigterm_with_a_drain_keeps_serving_new_connections_then_stops(stack: Stack, service: str) -> None:
    """DRAIN_SECONDS (the swarm's stack sets it, stack_common.drain): after SIGTERM to the service's
    main process, which is what `docker stop` signals, new connections are still served for that
    long; then it stops as it does without a drain, and exits 0."""
    name = f"{service}-drain"
    # One worker: once it answers it has its signal handlers (a worker still booting misses a
    # SIGTERM and serves on until gunicorn kills it, drain or not).
    url = stack.start_service_instance(service, name, env={"DRAIN_SECONDS": str(DRAIN_SECONDS), "WORKERS": "1"})
    try:
        wait_until(lambda: answers(url), 30, f"{name} to serve")
        process = stack.processes[name]
        process.send_signal(signal.SIGTERM)  # the main process only, as Docker does
        signalled = time.monotonic()
        while (into := time.monotonic() - signalled) < DRAIN_SECONDS - 0.5:
            assert answers(url), f"refused a connection {into:.1f} s into a {DRAIN_SECONDS} s drain"
            time.sleep(0.1)
        assert process.wait(DRAIN_SECONDS + 20) == 0
        assert time.monotonic() - signalled >= DRAIN_SECONDS
        assert asyncio.run(refuses_connections(stack.ports[name]))
    finally:
        stack.stop_process(name)
