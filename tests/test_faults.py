"""Faults survived: the database restarting under load, a service stopped with SIGTERM while it
has requests in flight, and data that outlives a database restart."""

import asyncio
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass

import asyncpg
import httpx
import pytest

from dev.stack import Stack

READ_ROUTES = ("/api/brands", "/legacy/brands", "/api/products/1", "/legacy/products/1")


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


def run_load(base_url: str, headers: dict[str, str], stop: threading.Event, outcomes: list[Outcome], acknowledged: list[tuple[int, str]], worker: int) -> None:
    """Reads on every route and a write per round, recording each answer, until told to stop."""
    with httpx.Client(base_url=base_url, timeout=10, headers=headers) as client:
        round_number = 0
        while not stop.is_set():
            round_number += 1
            name = f"fault-test-{worker}-{round_number}"
            requests = [("GET", route, None) for route in READ_ROUTES]
            requests.append(("POST", "/api/products", {"product_name": name, "brand_id": 1}))
            for method, route, body in requests:
                started = time.monotonic()
                response = client.request(method, route, json=body)
                error = error_code(response) if response.status_code >= 400 else None
                outcomes.append(Outcome(started, route, response.status_code, time.monotonic() - started, error))
                if response.status_code == 201:
                    acknowledged.append((response.json()["product_id"], name))


@pytest.mark.native
def test_database_restart_under_load(stack: Stack, http: httpx.Client) -> None:
    outcomes: list[Outcome] = []
    acknowledged: list[tuple[int, str]] = []
    stop = threading.Event()
    writer = {"Authorization": http.headers["Authorization"]}
    workers = [
        threading.Thread(target=run_load, args=(stack.http_url, writer, stop, outcomes, acknowledged, i)) for i in range(4)
    ]
    for thread in workers:
        thread.start()
    try:
        time.sleep(1)
        down_at = time.monotonic()
        stack.stop_postgres()
        time.sleep(3)
        stack.start_postgres()  # returns once pg_isready answers
        back_at = time.monotonic()
        time.sleep(4)
    finally:
        stop.set()
        for thread in workers:
            thread.join(timeout=30)

    # Every answer was a success or a fast, explicit 503 — no 500, no 502, no hang.
    assert all(not thread.is_alive() for thread in workers)
    unexpected = {(o.route, o.status, o.error) for o in outcomes if o.status not in (200, 201, 503)}
    assert not unexpected, unexpected
    assert {o.error for o in outcomes if o.status == 503} == {"database_unavailable"}
    slowest = max(o.seconds for o in outcomes)
    assert slowest < 3, f"a request took {slowest:.1f}s"
    # The outage was real, and both services said so.
    during = [o for o in outcomes if down_at + 0.5 < o.started < back_at]
    for prefix in ("/api/", "/legacy/"):
        assert any(o.status == 503 and o.route.startswith(prefix) for o in during), prefix
    # Within 2 s of the database returning, every route answers again, without any restart.
    after = [o for o in outcomes if o.started > back_at + 2]
    assert len(after) > 20
    assert all(o.status in (200, 201) for o in after), [(o.route, o.status) for o in after if o.status >= 300][:5]

    # No acknowledged write was lost.
    assert acknowledged
    for product_id, name in acknowledged:
        response = http.get(f"/api/products/{product_id}")
        assert response.status_code == 200 and response.json()["product_name"] == name
    for product_id, _ in acknowledged:
        assert http.delete(f"/api/products/{product_id}").status_code == 204


@pytest.mark.native
def test_sigterm_lets_in_flight_requests_finish(stack: Stack) -> None:
    """Requests held inside the api (the table they read is locked) all complete after SIGTERM."""

    async def scenario() -> tuple[list[int], int]:
        blocker = await asyncpg.connect(stack.superuser_dsn())
        try:
            transaction = blocker.transaction()
            await transaction.start()
            await blocker.execute("LOCK TABLE brand IN ACCESS EXCLUSIVE MODE")
            async with httpx.AsyncClient(base_url=stack.http_url, timeout=20) as client:
                in_flight = [asyncio.create_task(client.get("/api/brands")) for _ in range(16)]
                await asyncio.sleep(1)  # every request is now waiting on the lock, inside the service
                stack.processes["api"].send_signal(signal.SIGTERM)  # gunicorn's graceful stop
                await asyncio.sleep(1)
                await transaction.rollback()  # the queries proceed while the service shuts down
                responses = await asyncio.gather(*in_flight)
            exit_code = await asyncio.to_thread(stack.processes["api"].wait, 25)
            return [r.status_code for r in responses], exit_code
        finally:
            await blocker.close()

    try:
        statuses, exit_code = asyncio.run(scenario())
    finally:
        stack.stop_process("api")
        stack.start_service("api")
        stack.wait_ready()
    assert statuses == [200] * 16
    assert exit_code == 0


@pytest.mark.native
def test_data_survives_a_database_restart(stack: Stack, http: httpx.Client) -> None:
    created = http.post("/api/products", json={"product_name": "survives restarts", "brand_id": 7}).json()
    stack.stop_postgres()
    stack.start_postgres()
    stack.wait_ready()
    assert http.get(f"/api/products/{created['product_id']}").json() == created
    assert len(http.get("/api/brands").json()) == 100
    assert http.delete(f"/api/products/{created['product_id']}").status_code == 204


@pytest.mark.compose
def test_data_survives_a_postgres_container_restart(http: httpx.Client) -> None:
    """The named volume keeps the data; the init scripts do not run again on a non-empty volume."""
    project = os.environ["STACK_COMPOSE_PROJECT"]
    created = http.post("/api/products", json={"product_name": "survives restarts", "brand_id": 7}).json()
    subprocess.run(["docker", "compose", "-p", project, "restart", "postgres"], check=True, timeout=120)
    deadline = time.monotonic() + 60
    while http.get("/api/readyz").status_code != 200:
        assert time.monotonic() < deadline, "the api did not reconnect to the restarted database"
        time.sleep(0.5)
    assert http.get(f"/api/products/{created['product_id']}").json() == created
    assert len(http.get("/api/brands").json()) == 100
    assert http.delete(f"/api/products/{created['product_id']}").status_code == 204
