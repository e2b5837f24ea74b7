"""FairPool against the native stack's real PostgreSQL: connections in arrival order, a bounded wait,
and nothing of a request's transaction left on the connection the next request gets."""

import asyncio
import time

import pytest
from stack_common.database import FairPool

from dev.stack import Stack
from tests.helpers import eventually

pytestmark = pytest.mark.native


def waiting_for_a_turn(pool: FairPool) -> int:
    """Callers in FairPool's line (the waiters of its FIFO semaphore, a private of asyncio's)."""
    return len(pool._turns._waiters or ())


def run_with_pool(stack: Stack, max_size: int, scenario) -> None:
    async def main() -> None:
        pool = await FairPool.create(stack.database_url(with_password=True), min_size=0, max_size=max_size)
        try:
            await asyncio.wait_for(scenario(pool), timeout=30)
        finally:
            # A failed scenario may leave a task holding a connection; close() would wait for it.
            await asyncio.wait_for(pool.close(), timeout=10)

    asyncio.run(main())


def test_a_released_connection_goes_to_the_longest_waiting_caller(stack: Stack) -> None:
    """Two callers wait; a newcomer asks while the holder's connection is on its way back. In
    asyncpg's own pool the newcomer runs between the release and the first waiter's wake-up, takes
    the connection, and the waiter goes to the back of the line: under load, waits of seconds."""
    order: list[str] = []

    async def scenario(pool: FairPool) -> None:
        holding, let_go = asyncio.Event(), asyncio.Event()
        newcomer: list[asyncio.Task] = []

        async def use(name: str) -> None:
            async with pool.acquire(10) as connection:
                order.append(name)
                await connection.fetchval("SELECT 1")

        async def holder() -> None:
            async with pool.acquire(10):
                holding.set()
                await let_go.wait()
                # The newcomer's first step runs in the same loop pass as the release below.
                asyncio.get_running_loop().call_soon(
                    lambda: newcomer.append(asyncio.create_task(use("newcomer")))
                )

        holder_task = asyncio.create_task(holder())
        await holding.wait()
        waiters = []
        for name in ("first", "second"):
            waiters.append(asyncio.create_task(use(name)))
            # Queued in this order: each is in the line for a turn before the next one starts.
            await eventually(lambda: waiting_for_a_turn(pool) == len(waiters), 5, f"{name} in the line")
        let_go.set()
        await asyncio.gather(holder_task, *waiters)
        await asyncio.gather(*newcomer)

    run_with_pool(stack, 1, scenario)
    assert order == ["first", "second", "newcomer"]


async def hold_a_connection(pool: FairPool) -> tuple[asyncio.Task, asyncio.Event]:
    """A task that holds one of the pool's connections (once this returns) until the event is set."""
    holding, let_go = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with pool.acquire(10):
            holding.set()
            await let_go.wait()

    task = asyncio.create_task(holder())
    await holding.wait()
    return task, let_go


def test_no_free_connection_within_the_timeout_is_a_timeout_error_and_frees_the_turn(stack: Stack) -> None:
    async def scenario(pool: FairPool) -> None:
        holder_task, let_go = await hold_a_connection(pool)
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            async with pool.acquire(0.3):
                pass
        assert time.monotonic() - started < 2
        let_go.set()
        await holder_task
        # The timed-out caller's turn is not lost: the one connection is there for the next caller.
        async with pool.acquire(1) as connection:
            assert await connection.fetchval("SELECT 1") == 1

    run_with_pool(stack, 1, scenario)


def test_a_transaction_left_open_is_rolled_back_before_the_next_caller(stack: Stack) -> None:
    name = f"left open {time.time_ns()}"

    async def scenario(pool: FairPool) -> None:
        async with pool.acquire(5) as connection:
            await connection.execute("BEGIN")
            await connection.execute("INSERT INTO product (product_name, brand_id) VALUES ($1, 1)", name)
            first_pid = connection.get_server_pid()
        async with pool.acquire(5) as connection:
            assert connection.get_server_pid() == first_pid  # the same connection (max_size 1)
            assert not connection.is_in_transaction()
            assert await connection.fetchval("SELECT count(*) FROM product WHERE product_name = $1", name) == 0

    run_with_pool(stack, 1, scenario)


def test_a_connection_that_fails_inside_the_block_is_dropped_not_reused(stack: Stack) -> None:
    async def scenario(pool: FairPool) -> None:
        with pytest.raises(TimeoutError):
            async with pool.acquire(5) as connection:
                first_pid = connection.get_server_pid()
                await connection.execute("SELECT pg_sleep(5)", timeout=0.2)  # a stuck query
        async with pool.acquire(5) as connection:
            assert connection.get_server_pid() != first_pid

    run_with_pool(stack, 1, scenario)


def test_connections_in_use_and_callers_waiting_are_counted_for_the_gauges(stack: Stack) -> None:
    """What stack_common.metrics.PoolMetrics publishes: a waiting caller counts until it gets its
    connection or gives up, a connection until it is back in the pool."""

    async def scenario(pool: FairPool) -> None:
        async def waiter() -> int:
            async with pool.acquire(10) as connection:
                return await connection.fetchval("SELECT 1")

        holder_task, let_go = await hold_a_connection(pool)
        assert (pool.size, pool.in_use, pool.waiting) == (1, 1, 0)
        with pytest.raises(TimeoutError):
            async with pool.acquire(0.2):
                pass
        assert pool.waiting == 0  # gave up
        waiting = asyncio.create_task(waiter())
        await eventually(lambda: pool.waiting == 1, 5, "the second caller waiting")
        let_go.set()
        assert await waiting == 1
        await holder_task
        assert (pool.in_use, pool.waiting) == (0, 0)

    run_with_pool(stack, 1, scenario)
