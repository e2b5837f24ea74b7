"""What the test folders share besides fixtures (those are in conftest.py): polling with a deadline,
a database connection that is always closed, what the seed wrote, what a service's metrics counted
in process, and Faults (behind conftest's `faults` fixture) for tests that stop, signal or freeze
PostgreSQL and the services.

Imported as `tests.helpers` (pytest puts the project root on sys.path: `pythonpath` in pyproject).
"""

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager

import asyncpg
from prometheus_client import REGISTRY

from dev.stack import SERVICES, Stack

# What postgres/03-seed.sql writes (SEED_SCALE 1, as every test stack runs it).
SEEDED_BRANDS = 100
SEEDED_PRODUCT_IDS = range(1, 1001)
FIRST_PRODUCT = {"product_id": 1, "product_name": "Classic Cotton Jacket", "brand_id": 1}
# The largest id the int4 keys can hold.
INT4_MAX = 2**31 - 1


class FailingBrandsRead:
    """Stands in for a service's brand-list read (its FreshReads): fails in a way no route expects,
    so the answer is the service's own 500."""

    async def get(self) -> bytes:
        raise RuntimeError("the brand list's read broke")


def requests_counted(route: str, method: str, status: int) -> float:
    """The requests this process's metrics observed (stack_common.metrics, flushed) for one route
    template, method and status: the tests that run a service's app in process read them here."""
    labels = {"route": route, "method": method, "status": str(status)}
    return REGISTRY.get_sample_value("http_request_duration_seconds_count", labels) or 0.0


def wait_until(
    check: Callable[[], object], timeout: float, what: str | Callable[[], str], interval: float = 0.1
) -> None:
    """Polls `check` until it is true; after `timeout` s fails with `what` (text, or a function giving it)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what() if callable(what) else what}")
        time.sleep(interval)


async def eventually(
    check: Callable[[], object | Awaitable[object]],
    timeout: float,
    what: str | Callable[[], str],
    interval: float = 0.05,
) -> None:
    """wait_until inside an event loop; `check` may be a coroutine function."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what() if callable(what) else what}")
        await asyncio.sleep(interval)


@asynccontextmanager
async def connected(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """One asyncpg connection for the block, closed however the block ends."""
    connection = await asyncpg.connect(dsn)
    try:
        yield connection
    finally:
        await connection.close()


def process_tree(pid: int) -> list[int]:
    """`pid` and every process below it (gunicorn's workers, PostgreSQL's backends)."""
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    children = found.stdout.split()
    return [pid, *(descendant for child in children for descendant in process_tree(int(child)))]


def worker_pids(stack: Stack) -> dict[str, list[int]]:
    """Each service's gunicorn master and workers: a restart, of a service or one worker, changes them."""
    return {service: sorted(process_tree(stack.processes[service].pid)) for service in SERVICES}


async def refuses_connections(port: int) -> bool:
    """Whether nothing listens on 127.0.0.1:`port` any more (a service that began its shutdown)."""
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return True
    writer.close()
    return False


async def queries_waiting_on_a_lock(watcher: asyncpg.Connection, role: str) -> int:
    """`role`'s queries that wait on a lock (`watcher`: a superuser connection of its own, since
    pg_stat_activity is a snapshot within a transaction)."""
    return await watcher.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND wait_event_type = 'Lock'", role
    )


class Faults:
    """What a test does to the native stack's processes (PostgreSQL and the services), undone afterwards.

    After the test, also when it fails half way, everything it stopped runs again, everything it
    signalled is reaped and started afresh, and the stack is ready: a failure leaves no stopped
    database behind for the next test to fail on for the wrong reason.
    """

    PARTS = ("postgres", *SERVICES)

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.stopped: set[str] = set()
        self.signalled: set[str] = set()

    def stop(self, name: str) -> None:
        self.stopped.add(name)
        self.stack.stop_process(name)

    def start(self, name: str) -> None:
        if name == "postgres":
            self.stack.start_postgres()  # returns once it accepts connections
        else:
            self.stack.start_service(name)

    def signal(self, name: str, signum: int) -> None:
        """`signum` to the main process of `name` (gunicorn's master), as `docker stop` sends it to PID 1."""
        self.signalled.add(name)
        self.stack.processes[name].send_signal(signum)

    @contextmanager
    def frozen(self, name: str) -> Iterator[None]:
        """Every process of `name` stopped (SIGSTOP) for the block: its sockets stay open and nothing
        answers, like a hung host. PostgreSQL's backends run in sessions of their own, so its
        process group alone is not enough: the whole tree is frozen, and thawed however the block ends.
        """
        pids = process_tree(self.stack.processes[name].pid)
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)

    def restore(self) -> None:
        for name in self.PARTS:
            process = self.stack.processes.get(name)
            if name in self.signalled and process is not None:
                self.stack.stop_process(name)  # waits for its exit (SIGKILL after 25 s), reaps the group
                process = None
            if (name in self.stopped or name in self.signalled) and (process is None or process.poll() is not None):
                self.stack.processes.pop(name, None)
                self.start(name)
        self.stack.wait_ready()
