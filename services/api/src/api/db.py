"""The asyncpg pool, opened in the app's lifespan; one connection per request as a dependency."""

from collections.abc import AsyncIterator
from typing import Annotated

import asyncpg
from fastapi import Depends, Request
from stack_common.database import FairPool
from stack_common.metrics import PoolMetrics

from api.settings import Settings

# Seconds. Connecting, waiting for a free pooled connection, running one query: each bounded, so a
# database that is down or stuck gives a quick 503 instead of a request that hangs until nginx gives up.
CONNECT_TIMEOUT = 2
ACQUIRE_TIMEOUT = 3
QUERY_TIMEOUT = 5


async def create_pool(settings: Settings) -> FairPool:
    # min_size 0: the service starts (and stays up) while the database is away and connects on
    # demand. A connection the server dropped is noticed on acquire and replaced, so the pool heals
    # by itself once the database is back. Timeouts keep a dead database from hanging requests.
    return await FairPool.create(
        settings.database_url,
        metrics=PoolMetrics(settings.db_pool_max) if settings.metrics_on else None,
        password=settings.database_password(),
        min_size=min(settings.db_pool_min, settings.db_pool_max),
        max_size=settings.db_pool_max,
        timeout=CONNECT_TIMEOUT,
        command_timeout=QUERY_TIMEOUT,
    )


async def get_connection(request: Request) -> AsyncIterator[asyncpg.Connection]:
    pool: FairPool = request.app.state.pool
    async with pool.acquire(ACQUIRE_TIMEOUT) as connection:
        yield connection


Connection = Annotated[asyncpg.Connection, Depends(get_connection)]

