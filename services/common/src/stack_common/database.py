"""The database side the services share: which asyncpg errors mean "unreachable" (answered with 503),
and the connection pool request handlers take their connections from."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import asyncpg

if TYPE_CHECKING:
    from stack_common.metrics import PoolMetrics

DATABASE_UNAVAILABLE = (
    OSError,  # refused, reset, unreachable
    TimeoutError,  # connect, acquire or command timeout
    asyncpg.PostgresConnectionError,  # class 08: the connection failed
    asyncpg.OperatorInterventionError,  # class 57: admin shutdown, crash shutdown, cannot connect now
    asyncpg.InsufficientResourcesError,  # class 53: too many connections
    asyncpg.InterfaceError,  # the connection was closed under us
    # A connection the server drops in the middle of a query can surface as this (asyncpg#1069).
    asyncpg.InternalClientError,
)


async def keep_session_state(connection: asyncpg.Connection) -> None:
    """The pool's reset on release: nothing beyond what asyncpg always does (roll back a transaction
    left open, drop listener callbacks).

    asyncpg's default reset sends `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET
    ALL` on every release: a round trip per request to undo session state (advisory locks, cursors
    outside a transaction, LISTEN, SET) that the services never create. Code that starts creating
    any of it must undo it itself, or pass asyncpg's default back to the pool.
    """


class FairPool:
    """An asyncpg pool that hands out connections in the order callers asked for them.

    asyncpg's pool queues released connections in an asyncio.Queue: a task that asks at the right
    moment takes a connection already promised to a waiting one, which goes back to the end of the
    line. Under load (make bench: 200 connections, 10 per pool) some requests then wait seconds and
    time out. A FIFO semaphore in front lets in only as many callers as there are connections, in
    arrival order, so the pool itself never has a queue.
    """

    def __init__(self, pool: asyncpg.Pool, metrics: "PoolMetrics | None" = None) -> None:
        self._pool = pool
        self._turns = asyncio.Semaphore(pool.get_max_size())  # FIFO: no caller overtakes a waiting one
        # What the pool's gauges show (stack_common.metrics.PoolMetrics reads them when it flushes).
        self.in_use = 0
        self.waiting = 0
        if metrics is not None:
            metrics.watch(self)

    @classmethod
    async def create(cls, dsn: str, metrics: "PoolMetrics | None" = None, **options: Any) -> "FairPool":
        """asyncpg.create_pool(dsn, **options), without the reset round trip (keep_session_state);
        with `metrics`, its size, connections in use and waiting callers are published."""
        return cls(await asyncpg.create_pool(dsn, reset=keep_session_state, **options), metrics)

    @contextlib.asynccontextmanager
    async def acquire(self, timeout: float) -> AsyncIterator[asyncpg.Connection]:
        """A connection for the `async with` block; TimeoutError if none is free within `timeout`
        seconds (waiting for a turn and connecting count together)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self.waiting += 1  # a caller that gets its turn at once is never seen here: it does not yield
        try:
            async with asyncio.timeout_at(deadline):
                await self._turns.acquire()
        finally:
            self.waiting -= 1
        try:
            connection = await self._pool.acquire(timeout=max(deadline - loop.time(), 0.001))
            self.in_use += 1
            try:
                yield connection
            except DATABASE_UNAVAILABLE:
                # Dead or stuck: drop it now. Released as is, the pool would first wait (up to the
                # acquire timeout) for the server to confirm the cancelled query, delaying the 503.
                connection.terminate()
                raise
            finally:
                # A connection that died after its last query: the pool terminates it and frees
                # the slot itself. Raising here would turn a finished request into an error.
                with contextlib.suppress(*DATABASE_UNAVAILABLE):
                    await self._pool.release(connection)
                self.in_use -= 1
        finally:
            self._turns.release()

    @property
    def size(self) -> int:
        """Connections open: opened on demand, closed when idle or dead."""
        return self._pool.get_size()

    async def expire_connections(self) -> None:
        await self._pool.expire_connections()

    async def close(self) -> None:
        await self._pool.close()
