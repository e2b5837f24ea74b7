"""The asyncpg pool, opened and closed with the application (cleanup_ctx)."""

from collections.abc import AsyncIterator

import asyncpg
from aiohttp import web

from legacy.settings import Settings

POOL = web.AppKey("pool", asyncpg.Pool)

# Errors that mean "the database is not reachable right now", answered with 503.
DATABASE_UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
)


def pool_context(settings: Settings):
    async def open_pool(app: web.Application) -> AsyncIterator[None]:
        # min_size 0: start (and stay up) while the database is away; connect on demand.
        app[POOL] = await asyncpg.create_pool(
            settings.database_url,
            password=settings.database_password(),
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            timeout=2,
            command_timeout=5,
        )
        yield
        await app[POOL].close()

    return open_pool
