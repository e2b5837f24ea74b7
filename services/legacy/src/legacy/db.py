"""The asyncpg pool, opened and closed with the application (cleanup_ctx), under a typed key."""

from collections.abc import AsyncIterator, Callable

import asyncpg
from aiohttp import web

from legacy.settings import Settings

POOL = web.AppKey("pool", asyncpg.Pool)

# Errors that mean "the database is not reachable right now", answered with 503.
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


def pool_context(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    async def open_pool(app: web.Application) -> AsyncIterator[None]:
        # min_size 0: start (and stay up) while the database is away and connect on demand; the
        # timeouts turn a dead database into a prompt 503 instead of a hung request.
        app[POOL] = await asyncpg.create_pool(
            settings.database_url,
            password=settings.database_password(),
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            timeout=2,
            command_timeout=5,
        )
        # Closed after the server has drained in-flight requests (graceful shutdown).
        try:
            yield
        finally:
            await app[POOL].close()

    return open_pool
