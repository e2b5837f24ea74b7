"""The service against a failing database and a SIGTERM, on the native stack (marked `native`).

Each test leaves the stack as it found it, also when it fails (the `faults` fixture): PostgreSQL
and the legacy service are started again if the test stopped them.
"""

import asyncio
import signal

import httpx
import pytest

from dev.stack import Stack
from tests.helpers import (
    Faults,
    connected,
    eventually,
    queries_waiting_on_a_lock,
    refuses_connections,
    wait_until,
    worker_pids,
)

pytestmark = pytest.mark.native


def status_of(client: httpx.Client, path: str) -> int:
    try:
        return client.get(path).status_code
    except httpx.HTTPError:
        return 0


def test_database_outage_is_a_prompt_503_and_the_service_recovers_alone(faults: Faults, base_url: str) -> None:
    # The timeout bounds "prompt": a request waiting on a dead database fails the test.
    pids = worker_pids(faults.stack)
    with httpx.Client(base_url=base_url, timeout=6) as client:
        assert client.get("/legacy/brands").status_code == 200  # the pool holds live connections
        faults.stop("postgres")

        for path in ("/legacy/brands", "/legacy/products/1", "/legacy/readyz"):
            response = client.get(path)
            assert response.status_code == 503, (path, response.text)
            assert response.headers["content-type"] == "application/json"
            assert response.json()["error"] == "database_unavailable"
        # Liveness does not depend on the database: the orchestrator must not restart us for it.
        assert client.get("/legacy/healthz").json() == {"status": "ok"}
        # A 404 for an id no row can have needs no database either.
        assert client.get("/legacy/products/0").status_code == 404

        faults.start("postgres")
        # No restart of the service: its pool reconnects on the next request.
        wait_until(lambda: status_of(client, "/legacy/readyz") == 200, 20, "/legacy/readyz back to 200")
        assert client.get("/legacy/brands").json() == client.get("/api/brands").json()
        assert client.get("/legacy/products/1").status_code == 200
    assert worker_pids(faults.stack) == pids


IN_FLIGHT = 8  # requests held inside the service when SIGTERM arrives


def test_sigterm_lets_in_flight_requests_finish(stack: Stack, faults: Faults, base_url: str) -> None:
    """Requests blocked in PostgreSQL when SIGTERM arrives still get their 200 before the exit.

    No slow endpoint exists, so the test makes /products/{id} slow from the database side: a
    superuser transaction holds an exclusive lock on `product`, and every SELECT waits on it (the
    first batch of each worker in PostgreSQL, the requests after it waiting for the next). The lock is
    released only after the service has stopped accepting connections, i.e. mid-shutdown, and
    within the service's 5 s command_timeout (a query waiting longer is answered 503).
    """
    legacy = stack.processes["legacy"]
    service = stack.service_url("legacy")

    async def scenario() -> list[httpx.Response]:
        # Trusted local socket, as the superuser: the app role may not lock tables. The watcher is a
        # second connection because pg_stat_activity is a snapshot within the locker's transaction.
        async with connected(stack.superuser_dsn()) as locker, connected(stack.superuser_dsn()) as watcher:
            transaction = locker.transaction()
            await transaction.start()
            await locker.execute("LOCK TABLE product IN ACCESS EXCLUSIVE MODE")

            async def waiting_on_the_lock() -> bool:
                return await queries_waiting_on_a_lock(watcher, "legacy") >= 1

            async with httpx.AsyncClient(base_url=base_url, timeout=20) as client:
                requests = [
                    asyncio.create_task(client.get(f"/legacy/products/{product_id}"))
                    for product_id in range(1, IN_FLIGHT + 1)
                ]
                # Concurrent reads of a worker share one query (stack_common.fresh_reads): the first
                # request's query is blocked in PostgreSQL, those after it wait in the service for
                # the next one. All were sent at once; a moment more and every one is inside.
                await eventually(waiting_on_the_lock, 5, "a query waiting on the lock")
                await asyncio.sleep(1)

                faults.signal("legacy", signal.SIGTERM)
                # The shutdown has begun: the listening socket is closed...
                await eventually(lambda: refuses_connections(stack.ports["legacy"]), 3, f"{service} to stop accepting")
                # ...while every request is still waiting for its answer.
                assert not any(task.done() for task in requests)
                assert legacy.poll() is None

                await transaction.rollback()  # release the lock: the queries finish
                return await asyncio.gather(*requests)

    responses = asyncio.run(scenario())
    assert [r.status_code for r in responses] == [200] * IN_FLIGHT, [r.text for r in responses]
    assert [r.json()["product_id"] for r in responses] == list(range(1, IN_FLIGHT + 1))
    # Then gunicorn exits by itself, cleanly, well within its graceful_timeout.
    assert legacy.wait(timeout=25) == 0
