"""The asyncpg pool, opened in the app's lifespan; the pool or one connection per request as dependencies."""

from collections.abc import AsyncIterator
from typing import Annotated

import asyncpg
from fastapi import Depends, Request

from api.settings import Settings

# Errors that mean "the database is not reachable right now", answered with 503 (see errors.py).
DATABASE_UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
)


async def create_pool(settings: Settings) -> asyncpg.Pool:
    # min_size 0: the service starts (and stays up) while the database is away and connects on
    # demand; timeouts keep a dead database from hanging requests.
    return await asyncpg.create_pool(
        settings.database_url,
        password=settings.database_password(),
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        timeout=2,
        command_timeout=5,
    )


async def get_connection(request: Request) -> AsyncIterator[asyncpg.Connection]:
    pool: asyncpg.Pool = request.app.state.pool
    async with pool.acquire(timeout=3) as connection:
        yield connection


Connection = Annotated[asyncpg.Connection, Depends(get_connection)]


async def get_pool(request: Request) -> asyncpg.Pool:
    return request.app.state.pool


# For a route that runs one query: pool.fetch…() acquires and releases around it. A plain async
# dependency, not one that yields: FastAPI's exit stack for a yielding dependency cost the /brands
# workers ~27% of their CPU per request in the benchmark (bench/README.md).
Pool = Annotated[asyncpg.Pool, Depends(get_pool)]
