"""The service against a failing database and a SIGTERM, on the native stack (marked `native`).

Each test leaves the stack as it found it, also when it fails: PostgreSQL and the legacy service
are restarted if the test stopped them, and the stack is ready again before the next test.
"""

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable, Iterator

import asyncpg
import httpx
import pytest

from dev.stack import Stack

pytestmark = pytest.mark.native


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.1)


async def async_wait_for(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.05)


def status_of(client: httpx.Client, path: str) -> int:
    try:
        return client.get(path).status_code
    except httpx.HTTPError:
        return 0


@pytest.fixture
def restores_postgres(stack: Stack) -> Iterator[Stack]:
    yield stack
    if "postgres" not in stack.processes:
        stack.start_postgres()
    stack.wait_ready()


@pytest.fixture
def sigterm_legacy(stack: Stack) -> Iterator[Callable[[], None]]:
    """Sends SIGTERM to the legacy service; afterwards it is started again and the stack is ready."""
    signalled = False

    def send() -> None:
        nonlocal signalled
        signalled = True
        stack.signal_process("legacy", signal.SIGTERM)

    yield send
    if signalled:
        stack.stop_process("legacy")  # waits for the exit (SIGKILL after 25 s) and reaps the group
        stack.start_service("legacy")
    stack.wait_ready()


def test_database_outage_is_a_prompt_503_and_the_service_recovers_alone(
    restores_postgres: Stack, base_url: str
) -> None:
    stack = restores_postgres
    # The timeout bounds "prompt": a request waiting on a dead database fails the test.
    with httpx.Client(base_url=base_url, timeout=6) as client:
        assert client.get("/legacy/brands").status_code == 200  # the pool holds live connections
        stack.stop_postgres()

        for path in ("/legacy/brands", "/legacy/products/1", "/legacy/readyz"):
            response = client.get(path)
            assert response.status_code == 503, (path, response.text)
            assert response.headers["content-type"] == "application/json"
            assert response.json()["error"] == "database_unavailable"
        # Liveness does not depend on the database: the orchestrator must not restart us for it.
        assert client.get("/legacy/healthz").json() == {"status": "ok"}
        # A 404 for an id no row can have needs no database either.
        assert client.get("/legacy/products/0").status_code == 404

        stack.start_postgres()
        # No restart of the service: its pool reconnects on the next request.
        wait_for(lambda: status_of(client, "/legacy/readyz") == 200, 20, "/legacy/readyz back to 200")
        assert client.get("/legacy/brands").json() == client.get("/api/brands").json()
        assert client.get("/legacy/products/1").status_code == 200


IN_FLIGHT = 8  # below the pool size per worker (10), so every request holds a connection at once


def test_sigterm_lets_in_flight_requests_finish(
    stack: Stack, sigterm_legacy: Callable[[], None], base_url: str
) -> None:
    """Requests blocked in PostgreSQL when SIGTERM arrives still get their 200 before the exit.

    No slow endpoint exists, so the test makes /products/{id} slow from the database side: a
    superuser transaction holds an exclusive lock on `product`, and every SELECT waits on it (one
    query per request: /brands would batch concurrent requests into one query). The lock is
    released only after the service has stopped accepting connections, i.e. mid-shutdown, and
    within the service's 5 s command_timeout (a query waiting longer is answered 503).
    """
    legacy = stack.processes["legacy"]
    service = stack.service_url("legacy")

    async def refusing_connections() -> bool:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", stack.ports["legacy"])
        except OSError:
            return True
        writer.close()
        return False

    async def scenario() -> list[httpx.Response]:
        # Trusted local socket, as the superuser: the app role may not lock tables. The watcher is a
        # second connection because pg_stat_activity is a snapshot within the locker's transaction.
        locker = await asyncpg.connect(stack.superuser_dsn())
        watcher = await asyncpg.connect(stack.superuser_dsn())
        try:
            transaction = locker.transaction()
            await transaction.start()
            await locker.execute("LOCK TABLE product IN ACCESS EXCLUSIVE MODE")

            async def waiting_on_the_lock() -> bool:
                count = await watcher.fetchval(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE usename = 'legacy' AND wait_event_type = 'Lock'"
                )
                return count == IN_FLIGHT

            async with httpx.AsyncClient(base_url=base_url, timeout=20) as client:
                requests = [
                    asyncio.create_task(client.get(f"/legacy/products/{product_id}"))
                    for product_id in range(1, IN_FLIGHT + 1)
                ]
                # Every request is inside the service, its query blocked in PostgreSQL.
                await async_wait_for(waiting_on_the_lock, 5, f"{IN_FLIGHT} queries waiting on the lock")

                sigterm_legacy()
                # The shutdown has begun: the listening socket is closed...
                await async_wait_for(refusing_connections, 3, f"{service} to stop accepting")
                # ...while every request is still waiting for its answer.
                assert not any(task.done() for task in requests)
                assert legacy.poll() is None

                await transaction.rollback()  # release the lock: the queries finish
                return await asyncio.gather(*requests)
        finally:
            await locker.close()
            await watcher.close()

    responses = asyncio.run(scenario())
    assert [r.status_code for r in responses] == [200] * IN_FLIGHT, [r.text for r in responses]
    assert [r.json()["product_id"] for r in responses] == list(range(1, IN_FLIGHT + 1))
    # Then gunicorn exits by itself, cleanly, well within its graceful_timeout.
    assert legacy.wait(timeout=25) == 0
